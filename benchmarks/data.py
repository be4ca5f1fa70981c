"""Users' data at scale: preparation speed, training from a prepared folder against the same data
in memory, and the memory training needs as the prepared dataset grows.

Prints JSON (one object) and a markdown table:

* prepare throughput: images/second of ``synesthesia data prepare`` at 64 px from 256-px JPEG and
  PNG files written by this script (an HF imagefolder with captions), with 1 and 2 workers;
* training samples/second of a small joint VAE (image 64 px + text, batch 64) fed from a prepared
  folder (memory-mapped, DataLoader with 0 and 2 workers) against the same arrays held in memory
  (target ratio >= 0.9), and the loader alone (batches/second without a model);
* peak memory of training (fixed steps) on prepared folders of 10,000 and 100,000 samples, each in
  its own process: peak RSS, and its anonymous and file-backed (page cache) parts; the in-memory
  baseline for comparison. The large folders are written directly with the prepared writer from
  random pixels (decoding 100,000 files would only time the decoder again).

    OMP_NUM_THREADS=1 python benchmarks/data.py [--images 400] [--steps 40] [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = {"fusion": "mopoe", "latent_dim": 16}
MODALITIES = {"image": {"size": 64, "channels": 16, "feature_dim": 64},
              "text": {"feature_dim": 64, "embed": 32, "hidden": 64}}
WORDS = "a an the red green blue yellow big small square circle star triangle on with left right".split()


def sentence(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(WORDS, size=int(rng.integers(4, 9))))


# -- 1. prepare throughput -----------------------------------------------------------------------

def make_images(folder: Path, n: int, fmt: str, seed: int = 0) -> Path:
    """An HF imagefolder of ``n`` 256-px images (smooth random colour fields) with captions."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    (folder / "train").mkdir(parents=True)
    rows = []
    for i in range(n):
        small = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((256, 256), Image.BICUBIC)
        name = f"{i:05d}.{fmt}"
        img.save(folder / "train" / name, quality=90) if fmt == "jpg" else img.save(folder / "train" / name)
        rows.append(json.dumps({"file_name": name, "text": sentence(rng)}))
    (folder / "train" / "metadata.jsonl").write_text("\n".join(rows) + "\n")
    return folder


def prepare_speed(tmp: Path, n: int, fmt: str, workers: int) -> dict:
    from synesthesia.data.prepare import prepare

    src = tmp / f"src-{fmt}"
    if not src.exists():
        make_images(src, n, fmt)
    out = tmp / f"prep-{fmt}-{workers}"
    t0 = time.perf_counter()
    prepare(src, out, modalities={"image": {"size": 64}}, workers=workers, shard_size=128, progress=False,
            log=lambda line: None)
    seconds = time.perf_counter() - t0
    return {"format": fmt, "workers": workers, "images": n, "seconds": round(seconds, 2),
            "images_per_s": round(n / seconds, 1)}


# -- synthetic prepared folders ------------------------------------------------------------------

def write_prepared(out: Path, n: int, shard: int = 4096, seed: int = 0) -> Path:
    """A prepared folder of ``n`` random 64-px images with 2 captions each, written by the real
    shard writer, with its manifest and tokenizer."""
    from synesthesia.data.decode import Encoded
    from synesthesia.data.prepared import PREPARED_FILE, PREPARED_FORMAT, PREPARED_VERSION
    from synesthesia.data.shards import write_shard
    from synesthesia.modalities import build_modality
    from synesthesia.modalities.text import TextModality

    rng = np.random.default_rng(seed)
    text = TextModality.from_captions([" ".join(WORDS)], max_len=12, **{k: v for k, v in MODALITIES["text"].items()})
    image = build_modality("image", **MODALITIES["image"])
    (out / "assets").mkdir(parents=True)
    text.save_assets(out / "assets")
    shards = []
    for k, lo in enumerate(range(0, n, shard)):
        m = min(shard, n - lo)
        small = rng.integers(0, 256, size=(m, 3, 8, 8), dtype=np.uint8)
        images = np.repeat(np.repeat(small, 8, axis=2), 8, axis=3)                 # (m, 3, 64, 64)
        ids = rng.integers(4, text.vocab_size, size=(m, 2, 12)).astype(np.int32)
        ids[:, :, 8:] = 0
        ids[:, :, 7] = 3                                                        # EOS, then padding
        enc = Encoded([f"s{lo + i}" for i in range(m)], {"image": images, "text": ids},
                      {"image": np.ones(m, bool), "text": np.ones(m, bool)}, np.full(m, 2, np.uint8),
                      [["x", "y"]] * m)
        write_shard(out / "train" / f"{k:05d}", enc, m)
        shards.append({"path": f"train/{k:05d}", "n": m, "samples": m})
    manifest = {"format": PREPARED_FORMAT, "version": PREPARED_VERSION,
                "source": {"path": "synthetic", "format": "synthetic", "fingerprint": str(seed)},
                "settings": {}, "modalities": {"image": image.config(), "text": text.config()},
                "splits": {"train": {"n": n, "shards": shards}},
                "counts": {"samples": n, "kept": n, "rejected": 0, "captions_dropped": 0}}
    (out / PREPARED_FILE).write_text(json.dumps(manifest))
    return out


# -- 2./3. training, in a child process ----------------------------------------------------------

class MemoryWatch:
    """Samples /proc/self/status every 20 ms: peak RSS (VmHWM) and the peak of its anonymous and
    file-backed parts."""

    def __init__(self) -> None:
        self.peak = {"RssAnon": 0, "RssFile": 0}
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _read(self) -> dict:
        out = {}
        for line in open("/proc/self/status"):
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "VmHWM"):
                out[key] = int(value.split()[0]) // 1024                             # MiB
        return out

    def _run(self) -> None:
        while self.running:
            now = self._read()
            for k in self.peak:
                self.peak[k] = max(self.peak[k], now[k])
            time.sleep(0.02)

    def stop(self) -> dict:
        self.running = False
        self.thread.join()
        return {"peak_rss_mib": self._read()["VmHWM"], "peak_anon_mib": self.peak["RssAnon"],
                "peak_file_mib": self.peak["RssFile"]}


def child_train(folder: str, mode: str, steps: int, workers: int, batch: int, model: bool) -> dict:
    import lightning as L
    import torch

    from synesthesia.config import TrainConfig
    from synesthesia.data.columns import in_memory
    from synesthesia.data.prepared import PreparedSource
    from synesthesia.models.registry import build_model
    from synesthesia.training.module import TensorDataModule, lightning_module

    torch.set_num_threads(1)
    watch = MemoryWatch()
    source = PreparedSource(folder)
    mods = source.resolve_modalities(["image", "text"], MODALITIES)
    ds = source.dataset("train", None, mods)
    if mode == "memory":                                   # the same arrays, read whole into memory
        shards = [Path(folder) / s["path"] for s in source.manifest["splits"]["train"]["shards"]]
        load = lambda name: np.concatenate([np.load(f / name) for f in shards])
        ds = in_memory({m: load(f"{m}.npy") for m in ("image", "text")},
                       {m: load(f"{m}_present.npy") for m in ("image", "text")}, load("text_count.npy"),
                       [[]] * len(ds))
    data = TensorDataModule(ds, None, batch, workers)
    warm = max(5, steps // 6)
    if not model:                                          # the loader alone
        loader, n, t0 = data.train_dataloader(), 0, None
        while n < steps:
            for _ in loader:
                n += 1
                if n == warm:
                    t0 = time.perf_counter()
                if n >= steps:
                    break
        seconds = time.perf_counter() - t0
        return {"samples_per_s": round((steps - warm) * batch / seconds, 1), "steps": steps, **watch.stop()}
    torch.manual_seed(0)
    module = lightning_module(build_model("joint_vae", mods, MODEL), TrainConfig(batch_size=batch, lr=1e-3))
    clock = {}

    class Clock(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == warm:
                clock["t0"] = time.perf_counter()

    trainer = L.Trainer(accelerator="cpu", max_steps=steps, max_epochs=-1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[Clock()],
                        num_sanity_val_steps=0)
    trainer.fit(module, datamodule=data)
    seconds = time.perf_counter() - clock["t0"]
    return {"samples_per_s": round((trainer.global_step - warm) * batch / seconds, 1),
            "steps": trainer.global_step, **watch.stop()}


def run_child(folder: Path, mode: str, steps: int, workers: int, batch: int, model: bool = True) -> dict:
    cmd = [sys.executable, __file__, "--child", str(folder), mode, str(steps), str(workers), str(batch),
           "1" if model else "0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- main ----------------------------------------------------------------------------------------

def table(results: dict) -> str:
    lines = ["| measure | setting | value |", "|---|---|---|"]
    for r in results["prepare"]:
        lines.append(f"| prepare throughput | {r['format'].upper()} 256 px -> 64 px, {r['workers']} worker(s), "
                     f"{r['images']} images | {r['images_per_s']} images/s |")
    for r in results["speed"]:
        lines.append(f"| {'training' if r['model'] else 'loader only'} samples/s | {r['mode']}, "
                     f"{r['workers']} loader workers, {r['n']} samples | {r['samples_per_s']} |")
    for name, v in results.get("ratios", {}).items():
        lines.append(f"| ratio prepared / in memory | {name} | {v:.3f} |")
    for r in results["memory"]:
        lines.append(f"| peak memory of training | {r['mode']}, {r['n']:,} samples, {r['steps']} steps | "
                     f"RSS {r['peak_rss_mib']} MiB (anonymous {r['peak_anon_mib']}, file-backed "
                     f"{r['peak_file_mib']}) |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=400, help="images per format for the prepare throughput")
    p.add_argument("--steps", type=int, default=40, help="training steps per speed measurement")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--speed-n", type=int, default=4096, help="prepared samples for the speed comparison")
    p.add_argument("--sizes", default="10000,100000", help="prepared sizes for the memory measurement")
    p.add_argument("--repeats", type=int, default=2, help="alternating repeats of each speed run (median kept)")
    p.add_argument("--workdir", default=None, help="where to write the data (default: a temporary folder)")
    p.add_argument("--parts", default="prepare,speed,memory", help="which measurements to run")
    args = p.parse_args()
    tmp = Path(args.workdir or tempfile.mkdtemp(prefix="synesthesia-data-bench-"))
    results: dict = {"cpu_count": os.cpu_count(), "omp_threads": os.environ.get("OMP_NUM_THREADS"),
                     "load_average_start": os.getloadavg(), "prepare": [], "speed": [], "memory": []}
    parts = args.parts.split(",")
    for fmt in ("jpg", "png") if "prepare" in parts else ():
        for workers in (1, 2):
            results["prepare"].append(prepare_speed(tmp, args.images, fmt, workers))
            print(json.dumps(results["prepare"][-1]), file=sys.stderr, flush=True)
    if "speed" in parts:
        speed(results, tmp, args)
    for n in (int(s) for s in args.sizes.split(",")) if "memory" in parts else ():
        folder = tmp / f"mem-{n}"
        if not folder.exists():
            write_prepared(folder, n)
        for mode in ("prepared", "memory"):
            r = run_child(folder, mode, args.steps, 0, args.batch)
            results["memory"].append({"mode": mode, "n": n, **r})
            print(json.dumps(results["memory"][-1]), file=sys.stderr, flush=True)
    results["load_average_end"] = os.getloadavg()
    print(json.dumps(results, indent=1))
    print(table(results))


def speed(results: dict, tmp: Path, args) -> None:
    """Training and loader samples/s, prepared against in memory, alternating runs; medians kept."""
    speed_folder = tmp / "speed"
    if not speed_folder.exists():
        write_prepared(speed_folder, args.speed_n)
    runs = [("prepared", 0, True), ("memory", 0, True), ("prepared", 2, True), ("prepared", 0, False),
            ("memory", 0, False)]
    samples: dict = {}
    for _ in range(args.repeats):
        for mode, workers, model in runs:
            r = run_child(speed_folder, mode, args.steps if model else 4 * args.steps, workers, args.batch, model)
            samples.setdefault((mode, workers, model), []).append(r["samples_per_s"])
            print(json.dumps({"mode": mode, "workers": workers, "model": model, **r}), file=sys.stderr, flush=True)
    for (mode, workers, model), values in samples.items():
        results["speed"].append({"mode": mode, "workers": workers, "model": model, "n": args.speed_n,
                                 "samples_per_s": float(np.median(values)), "runs": values})
    med = {k: float(np.median(v)) for k, v in samples.items()}
    results["ratios"] = {"training, 0 workers": med[("prepared", 0, True)] / med[("memory", 0, True)],
                         "training, prepared with 2 workers": med[("prepared", 2, True)] / med[("memory", 0, True)],
                         "loader only, 0 workers": med[("prepared", 0, False)] / med[("memory", 0, False)]}


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        folder, mode, steps, workers, batch, model = sys.argv[2:8]
        print(json.dumps(child_train(folder, mode, int(steps), int(workers), int(batch), model == "1")))
    else:
        main()
