"""Faults injected into training and inputs fuzzed into every reader, and what came of them.

Faults (tiny runs of the joint VAE, the GAN and the captioner on the shapes world, fixed steps):
SIGKILL at random steps (a subprocess), SIGTERM at a random step, a full disk while the next
checkpoint is written (RLIMIT_FSIZE in a subprocess), a corrupt last checkpoint. A run is
recovered when ``--resume`` then finishes and, for kills and SIGTERM, every logged loss and the
final weights equal those of an uninterrupted run (the figure: the largest relative difference).

Fuzzing (a fixed seed): valid inputs cut, overwritten, extended or replaced by random bytes, fed
to each reader: image, sound, video and caption-text files through ``Modality.read`` and
``encode``; every dataset layout reader; config YAML; ``--set`` strings; safetensors weights;
checkpoints; the REST API's request bodies. Outcomes: accepted, a clean error (the project's
own error class, or a 4xx JSON response) or a crash (anything else; target 0).

    OMP_NUM_THREADS=1 python benchmarks/reliability.py [--kills 2] [--fuzz 100] [--families ...]

Writes benchmarks/results/reliability.json and reliability.md, and prints both.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "tests" / "data")]

from synesthesia.io import write_text_atomic  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
KILL = """
import os, signal, sys, warnings
import lightning as L
from synesthesia.runs import RunConfig
from synesthesia.training.run import train
class Kill(L.Callback):
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step >= int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)
warnings.simplefilter("ignore")
train(RunConfig.from_yaml(sys.argv[1]), sys.argv[2], progress=False, callbacks=[Kill()])
"""


# -- faults ------------------------------------------------------------------------------------------
def _quiet_train(*args, **kw):
    import warnings

    from synesthesia.training.run import train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(*args, progress=False, **kw)


def difference(run: Path, reference: Path) -> float:
    """The largest relative difference between two runs' logged values and final weights
    (inf when their logs do not cover the same steps)."""
    from safetensors.torch import load_file
    from tests.training.test_resume import logged

    ours, theirs = logged(run), logged(reference)
    if ours.keys() != theirs.keys():
        return float("inf")
    worst = max(abs(ours[k] - theirs[k]) / max(1.0, abs(theirs[k])) for k in theirs)
    a, b = load_file(str(run / "model.safetensors")), load_file(str(reference / "model.safetensors"))
    return max([worst, *(float((a[k].float() - b[k].float()).abs().max()) for k in a)])


def kill_faults(family: str, kills: int, work: Path, rng: random.Random) -> list[dict]:
    from tests.training.test_resume import BATCHES, FAMILIES, config

    per_batch = FAMILIES[family][3]
    reference = _quiet_train(config(family), work / f"{family}-reference")
    rows = []
    for k in range(kills):
        step = rng.randint(1, BATCHES - 1) * per_batch
        run, cfg = work / f"{family}-kill-{k}", config(family).to_yaml(work / f"{family}-{k}.yaml")
        proc = subprocess.run([sys.executable, "-c", KILL, str(cfg), str(run), str(step)], env=ENV,
                              capture_output=True, text=True, timeout=600)
        row = {"fault": "SIGKILL", "family": family, "step": step, "killed": proc.returncode == -signal.SIGKILL}
        rows.append({**row, **_resume_and_compare(family, run, reference)})
    return rows


def _resume_and_compare(family: str, run: Path, reference: Path) -> dict:
    from tests.training.test_resume import config

    try:
        _quiet_train(config(family), run, resume=True)
    except Exception as err:
        return {"recovered": False, "error": f"{type(err).__name__}: {str(err)[:200]}"}
    diff = difference(run, reference)
    return {"recovered": diff <= 1e-6, "max_difference": diff}


def sigterm_fault(family: str, work: Path, rng: random.Random) -> dict:
    from tests.training.test_resume import BATCHES, FAMILIES, SignalAt, config

    from synesthesia.checkpoint import Interrupted

    step = rng.randint(1, BATCHES - 1) * FAMILIES[family][3]
    run = work / f"{family}-sigterm"
    try:
        _quiet_train(config(family), run, callbacks=[SignalAt(step, signal.SIGTERM)])
        stopped = False
    except Interrupted:
        stopped = True
    row = {"fault": "SIGTERM", "family": family, "step": step, "saved_and_stopped": stopped}
    return {**row, **_resume_and_compare(family, run, work / f"{family}-reference")}


def full_disk_fault(work: Path) -> dict:
    from tests.conftest import tiny_run_config

    from synesthesia.checkpoint import load_nested

    run = work / "full-disk"
    _quiet_train(tiny_run_config(max_steps=2, samples_every_epoch=False), run)
    last = run / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    limit = len(before) // 2
    proc = subprocess.run([sys.executable, "-m", "synesthesia.cli", "train", str(run / "config.yaml"), "--out",
                           str(run), "--resume", "--no-progress", "--no-gallery", "--set", "train.max_steps=4"],
                          env=ENV, capture_output=True, text=True, timeout=600,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    clean = proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("synesthesia: error:")
    intact = last.read_bytes() == before and load_nested(last)["global_step"] == 2
    _quiet_train(tiny_run_config(max_steps=4, samples_every_epoch=False), run, resume=True)
    return {"fault": "full disk", "family": "joint_vae", "clean_error": clean, "previous_intact": intact,
            "recovered": load_nested(last)["global_step"] == 4}


def corrupt_checkpoint_fault(work: Path) -> dict:
    import shutil

    from tests.conftest import tiny_run_config

    from synesthesia.checkpoint import load_nested
    from synesthesia.cli import main

    run = work / "corrupt"
    _quiet_train(tiny_run_config(max_steps=3, checkpoint_every=1, samples_every_epoch=False), run)
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: len(last.read_bytes()) // 3])
    args = ["train", str(run / "config.yaml"), "--out", str(run), "--resume", "--no-progress", "--no-gallery",
            "--set", "train.max_steps=5"]
    status = main(args)                                     # refused, with what to do
    earlier = max(run.glob("checkpoints/step-*.ckpt"), key=lambda p: int(p.stem.rsplit("=", 1)[1]))
    shutil.copy(earlier, last)
    recovered = main(args) == 0 and load_nested(last)["global_step"] == 5
    return {"fault": "corrupt checkpoint", "family": "joint_vae", "clean_error": status == 2, "recovered": recovered}


# -- fuzzing -------------------------------------------------------------------------------------------
def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """``data`` cut, overwritten, extended or replaced by random bytes."""
    at, blob = int(rng.integers(0, len(data) + 1)), rng.bytes(int(rng.integers(1, 48)))
    kind = int(rng.integers(0, 4))
    return [data[:at], data[:at] + blob + data[at + len(blob):], data[:at] + blob + data[at:], blob][kind]


def fuzz(name: str, seeds: list[bytes], read, n: int, rng: np.random.Generator) -> dict:
    """Feed ``n`` mutations of ``seeds`` to ``read``; count accepted inputs, clean errors, crashes."""
    from synesthesia.errors import SynesthesiaError

    counts, crashes = {"inputs": n, "accepted": 0, "clean_errors": 0, "crashes": 0}, []
    for i in range(n):
        data = mutate(seeds[i % len(seeds)], rng)
        try:
            verdict = read(data)
        except SynesthesiaError as err:
            verdict = "clean_errors" if str(err).strip() else "crashes"
        except Exception as err:
            verdict, message = "crashes", f"{type(err).__name__}: {str(err)[:120]}"
            if message not in crashes:
                crashes.append(message)
        counts[verdict if verdict in counts else "accepted"] += 1
    return {"reader": name, **counts, "examples": crashes[:3]}


def _file_reader(work: Path, suffix: str, modality):
    def read(data: bytes):
        path = work / f"fuzz.{suffix}"
        path.write_bytes(data)
        modality.encode([modality.read(path)])
    return read


def media_targets(work: Path) -> dict:
    import io

    from PIL import Image
    from tests.conftest import TINY_MODALITIES, TINY_WORLD

    from synesthesia.modalities import build_modality
    from synesthesia.modalities.files import write_gif, write_mp4, write_wav
    from synesthesia.modalities.text import TextModality
    from synesthesia.world import WorldConfig
    from synesthesia.world.captions import caption_vocabulary
    from synesthesia.world.world import ShapesWorld

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(buf, "PNG")
    write_wav(np.sin(np.linspace(0, 200, 2000)).astype(np.float32), 8000, work / "seed.wav")
    frames = rng.integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
    write_gif(frames, work / "seed.gif")
    write_mp4(frames, work / "seed.mp4")
    world = ShapesWorld(WorldConfig(**TINY_WORLD))
    captions = world.render("train", np.arange(64), ["text"])["text"]
    text = TextModality.from_captions(list(captions), extra_words=caption_vocabulary(), **TINY_MODALITIES["text"])
    audio = build_modality("audio", seconds=0.25, sample_rate=8000, frames=16, n_mels=16, n_fft=256)
    return {
        "image file": ([buf.getvalue()], _file_reader(work, "png", build_modality("image", size=16)), 1),
        "sound file": ([(work / "seed.wav").read_bytes()], _file_reader(work, "wav", audio), 1),
        "video file (GIF)": ([(work / "seed.gif").read_bytes()], _file_reader(work, "gif", build_modality(
            "video", size=16, frames=4)), 5),
        "video file (MP4)": ([(work / "seed.mp4").read_bytes()], _file_reader(work, "mp4", build_modality(
            "video", size=16, frames=4)), 5),
        "caption text file": ([c.encode() for c in captions[:8]], _file_reader(work, "txt", text), 1),
    }


def layout_targets(work: Path) -> dict:
    import layouts
    from tests.data.test_fuzz_readers import LAYOUTS, METADATA

    from synesthesia.data.readers import open_reader

    targets = {}
    for name, make in LAYOUTS.items():
        root = make(work / f"layout-{name}")
        folder = root if root.is_dir() else root.parent
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in METADATA)

        def read(data: bytes, root=root, target=files[0]):
            original = target.read_bytes()
            target.write_bytes(data)
            try:
                sum(1 for _ in open_reader(root).samples())
            finally:
                target.write_bytes(original)
        targets[f"layout: {name} ({files[0].name})"] = ([files[0].read_bytes()], read, 2)
    assert layouts
    return targets


def file_targets(work: Path) -> dict:
    import torch
    from safetensors.torch import save_file

    from synesthesia.checkpoint import load_nested, save_nested
    from synesthesia.config import apply_overrides, load_yaml
    from synesthesia.runs import RunConfig
    from synesthesia.runs.folder import read_weights

    valid = RunConfig.from_dict({"data": {"world": {"level": 1}}})
    valid.to_yaml(work / "seed.yaml")
    save_file({"a": torch.ones(2, 3), "b": torch.arange(4)}, str(work / "seed.safetensors"))
    save_nested({"state_dict": {"w": torch.ones(3)}, "global_step": 3, "loops": {"x": (1, None)}}, work / "seed.ckpt")

    def config(data: bytes):
        (work / "fuzz.yaml").write_bytes(data)
        RunConfig.from_dict(load_yaml(work / "fuzz.yaml"))

    def override(data: bytes):
        RunConfig.from_dict(apply_overrides(valid.to_dict(), [data.decode("utf-8", "replace")]))

    def weights(data: bytes):
        (work / "fuzz.safetensors").write_bytes(data)
        read_weights(work / "fuzz.safetensors")

    def checkpoint(data: bytes):
        (work / "fuzz.ckpt").write_bytes(data)
        load_nested(work / "fuzz.ckpt")

    sets = [s.encode() for s in ("train.lr=3e-4", "train.batch_size=6", "model.latent_dim=8", "data.n_train=64",
                                 "train.max_loss=100", "modalities.text.max_len=9", "train.devices=1")]
    return {"config YAML": ([(work / "seed.yaml").read_bytes()], config, 1),
            "--set strings": (sets, override, 1),
            "safetensors weights": ([(work / "seed.safetensors").read_bytes()], weights, 1),
            "checkpoint (.ckpt)": ([(work / "seed.ckpt").read_bytes()], checkpoint, 1)}


def api_target(work: Path) -> dict:
    from tests.conftest import tiny_run_config
    from tests.serve.conftest import call, make_app

    from synesthesia.training.run import train

    run = _quiet_train(tiny_run_config(max_steps=2, samples_every_epoch=False), work / "api-run")
    app = make_app([run], work / "api-temp", max_n=2, max_steps=3, max_prompt_chars=200)
    seeds = [json.dumps(b).encode() for b in ({"to": "image", "text": "a big red star", "n": 1, "seed": 0},
                                               {"to": "text", "text": "a big red star"}, {"n": 1, "seed": 0})]
    paths = ["/v1/generate", "/v1/generate", "/v1/sample", "/v1/cycle"]
    state = {"i": 0}

    def post(data: bytes):
        state["i"] += 1
        r = call(app, "POST", paths[state["i"] % len(paths)], content=data,
                 headers={"content-type": "application/json"})
        if r.status_code >= 500 or (r.status_code >= 400 and not str(r.json().get("error", "")).strip()):
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:100]}")
        return "accepted" if r.status_code < 400 else "clean_errors"

    assert train
    return {"REST API bodies": (seeds, post, 1)}


def run_fuzz(work: Path, n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for make in (media_targets, layout_targets, file_targets, api_target):
        for name, (seeds, read, fewer) in make(work).items():
            t0 = time.perf_counter()
            rows.append({**fuzz(name, seeds, read, max(5, n // fewer), rng),
                         "seconds": round(time.perf_counter() - t0, 1)})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def table(results: dict) -> str:
    lines = ["| fault | family | step | recovered | max difference after resume |", "|---|---|---|---|---|"]
    for r in results["faults"]:
        diff = r.get("max_difference")
        lines.append(f"| {r['fault']} | {r['family']} | {r.get('step', '')} | {'yes' if r['recovered'] else 'NO'} | "
                     f"{'' if diff is None else f'{diff:.1e}'} |")
    lines += ["", "| reader | inputs | accepted | clean errors | crashes |", "|---|---|---|---|---|"]
    for r in results["fuzz"]:
        lines.append(f"| {r['reader']} | {r['inputs']} | {r['accepted']} | {r['clean_errors']} | {r['crashes']} |")
    s = results["summary"]
    lines += ["", f"{s['runs_recovered']} of {s['faults_injected']} faulted runs recovered; largest difference after "
              f"resume {s['max_loss_difference_after_resume']}; {s['inputs_fuzzed']} inputs fuzzed: "
              f"{s['clean_errors']} clean errors, {s['crashes']} crashes; {s['seconds']} s on {s['cpu']}, "
              f"{s['threads']} thread."]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kills", type=int, default=2, help="SIGKILLs at random steps per family (default 2)")
    p.add_argument("--fuzz", type=int, default=100, help="inputs per reader (video and layouts: fewer)")
    p.add_argument("--families", nargs="+", default=["joint_vae", "gan", "transformer"])
    p.add_argument("--seed", type=int, default=22)
    p.add_argument("--no-write", action="store_true", help="print only; do not write benchmarks/results")
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    rng, t0, faults = random.Random(args.seed), time.perf_counter(), []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for family in args.families:
            faults += kill_faults(family, args.kills, work, rng)
            faults.append(sigterm_fault(family, work, rng))
            print(json.dumps(faults[-1]), file=sys.stderr, flush=True)
        faults += [full_disk_fault(work), corrupt_checkpoint_fault(work)]
        fuzzed = run_fuzz(work, args.fuzz, args.seed)
    diffs = [f["max_difference"] for f in faults if "max_difference" in f]
    results = {"faults": faults, "fuzz": fuzzed, "summary": {
        "faults_injected": len(faults), "runs_recovered": sum(bool(f["recovered"]) for f in faults),
        "max_loss_difference_after_resume": max(diffs) if diffs else None,
        "inputs_fuzzed": sum(r["inputs"] for r in fuzzed), "crashes": sum(r["crashes"] for r in fuzzed),
        "clean_errors": sum(r["clean_errors"] for r in fuzzed), "seconds": round(time.perf_counter() - t0, 1),
        "threads": 1, "cpu": f"{os.cpu_count()} cores, shared with other work"}}
    text = table(results)
    print(json.dumps(results, indent=1))
    print(text)
    if not args.no_write:
        write_text_atomic(RESULTS / "reliability.json", json.dumps(results, indent=1))
        write_text_atomic(RESULTS / "reliability.md", text + "\n")


if __name__ == "__main__":
    main()
