"""Training speed of the joint VAE: samples/second, peak memory, FLOPs and hardware efficiency.

For each fusion (poe, moe, mopoe) on the level-5 world at 64 px (video 8 frames of 32 px),
batch 64, with all four modalities and with image+text only, prints: training samples/second
(forward, backward and AdamW step on batches drawn from an in-memory dataset), peak resident
memory, model FLOPs per training sample (torch.utils.flop_counter), achieved GFLOP/s, and that as a
fraction of this machine's fp32 matmul GFLOP/s measured in the same run, plus parameter counts.
Each configuration runs in its own process so peak memory is its own.

    python benchmarks/train_speed.py [--seconds 20] [--precision 32|bf16] [--fusions mopoe]

``--compare`` measures, in the same run, a plain-PyTorch fp32 reference against synesthesia's own
training path, image+text, batch 64, for each fusion and image size (``--sizes``, default 32 64),
each leg in its own process (so peak memory is its own), both from the same seed and model:

* reference: a plain eager fp32 loop: torch.optim.AdamW with TrainConfig's default lr and weight
  decay, the gradient norm clipped to TrainConfig's default (as the Trainer's gradient_clip_val
  does), the learning rate along the default schedule's curve (warm-up then cosine over the
  steps, CosineSchedule.factor through a LambdaLR), batches in a seeded random order;
* ours: the Lightning Trainer of ``synesthesia train`` (training/run.py's ``_trainer``, precision
  train.precision "auto" as resolve_precision resolves it, its callbacks and loggers writing into a
  temporary run folder) over GenerativeModule and TensorDataModule, max_steps = warmup + steps.
  Two differences from a ``synesthesia train`` run: no progress bar (the output is captured), and
  no validation set (a validation pass after each 4-step epoch would land inside the timed steps);
  checkpoints stay on (every 500 steps, so none within a short run).

The timed steps are those after ``--warmup`` (a Lightning Callback times them in ours): samples/s
(wall clock), CPU seconds per step (time.process_time, all threads), peak resident memory (read
before the evaluation), then the IWAE bound (model.iwae, k = model.iw_samples) on 256 held-out
samples of the val split. Both legs train the same number of steps, so the bounds are at equal
steps; their CPU seconds are reported beside them to compare at equal CPU time.

    OMP_NUM_THREADS=1 python benchmarks/train_speed.py --compare [--fusions mopoe] [--sizes 32 64]
        [--steps 30] [--warmup 3] [--write]      # --write appends to results/train-speed-compare.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

MODALITY_SETS = {"all four": ["image", "text", "audio", "video"], "image+text": ["image", "text"]}


def matmul_gflops(n: int = 2048, seconds: float = 3.0, dtype=torch.float32) -> float:
    """Best sustained GFLOP/s of an n x n matmul (2 n^3 FLOPs each)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        best = max(best, 4 * 2 * n ** 3 / (time.perf_counter() - t0) / 1e9)
    return best


def setup(fusion: str, modalities: list[str], batch: int, size: int = 64, n_val: int = 0, batches: int = 4):
    """The run config, the joint VAE, an in-memory training set of ``batches`` batches and
    (``n_val``) a held-out set of the val split, on the level-5 world at ``size`` px."""
    from synesthesia.data.sources import open_source
    from synesthesia.models.registry import build_model
    from synesthesia.runs.config import RunConfig
    from synesthesia.training.run import resolve_modalities

    cfg = RunConfig.from_dict({
        "model": {"fusion": fusion, "latent_dim": 48},
        "data": {"world": {"level": 5, "image_size": size, "video_size": 32, "video_frames": 8},
                 "modalities": modalities, "n_train": batches * batch},
        "train": {"batch_size": batch},
    })
    source = open_source(cfg.data.world)
    mods = resolve_modalities(cfg, source)
    data = source.dataset("train", batches * batch, mods)
    val = source.dataset("val", n_val, mods) if n_val else None
    return cfg, build_model("joint_vae", mods, cfg.model), data, val


def build(fusion: str, modalities: list[str], batch: int, size: int = 64):
    _, model, data, _ = setup(fusion, modalities, batch, size)
    return model, data


def one(fusion: str, modalities: list[str], batch: int, seconds: float, precision: str) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model, data = build(fusion, modalities, batch)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    bf16 = precision == "bf16"

    def step(k: int) -> None:
        b = data[[(k * batch + i) % len(data) for i in range(batch)]]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(b.data, b.masks)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with FlopCounterMode(display=False) as counter:
        b = data[list(range(batch))]
        model(b.data, b.masks)["loss"].backward()
    flops = counter.get_total_flops() / batch
    for k in range(3):                                   # warm-up: oneDNN picks its kernels
        step(k)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step(n)
        n += 1
    rate = n * batch / (time.perf_counter() - t0)
    return {"fusion": fusion, "modalities": "+".join(modalities), "precision": precision,
            "samples_per_s": round(rate, 1), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "mflop_per_sample": round(flops / 1e6, 1), "achieved_gflops": round(flops * rate / 1e9, 1),
            "parameters": sum(p.numel() for p in model.parameters())}


COMPARE_MODALITIES, HELD_OUT = ["image", "text"], 256
COMPARE_RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "train-speed-compare.jsonl")


def seeded_setup(fusion: str, size: int, batch: int, batches: int, seed: int = 0):
    """:func:`setup` for the comparison, after seeding Python, numpy and torch alike in both legs.
    The training set holds every timed step's batch, so that no epoch ends inside the timed steps
    (at an epoch's end ``synesthesia train`` writes a sample grid, which a 4-batch epoch would
    charge to every fourth step)."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return setup(fusion, COMPARE_MODALITIES, batch, size, HELD_OUT, batches)


@torch.no_grad()
def held_out_bound(model, val, chunk: int = 64) -> float:
    """Mean IWAE bound (nats per sample, k = model.iw_samples) on the held-out set, in eval mode,
    the importance samples drawn from a fixed generator."""
    model.eval()
    g = torch.Generator().manual_seed(0)
    total = 0.0
    for lo in range(0, len(val), chunk):
        b = val[list(range(lo, min(len(val), lo + chunk)))]
        total += float(model.iwae(b.data, b.masks, generator=g).sum())
    return total / len(val)


def leg_row(leg: str, model, val, steps: int, batch: int, wall: float, cpu: float, precision: str) -> dict:
    """A leg's result: timed-step rates and peak memory (read now), then the held-out bound."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"leg": leg, "precision": precision, "samples_per_s": round(steps * batch / wall, 1),
            "cpu_s_per_step": round(cpu / steps, 4), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "peak_rss_mb": round(rss), "threads": torch.get_num_threads(),
            "iwae": round(held_out_bound(model, val), 2), "iw_samples": model.config.iw_samples}


def reference_leg(fusion: str, size: int, batch: int, steps: int, warmup: int) -> dict:
    """The plain-PyTorch fp32 loop: AdamW, TrainConfig's lr, weight decay, gradient clip and lr curve."""
    from synesthesia.training.callbacks import CosineSchedule

    cfg, model, data, val = seeded_setup(fusion, size, batch, warmup + steps + 1)
    t, total = cfg.train, warmup + steps
    opt = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    curve = CosineSchedule(t.warmup_steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: curve.factor(k, k / total))
    g = torch.Generator().manual_seed(t.seed)
    order: list[torch.Tensor] = []
    model.train()
    t0 = c0 = 0.0
    for k in range(total):
        if k == warmup:
            t0, c0 = time.perf_counter(), time.process_time()
        if not order:
            order = list(torch.randperm(len(data), generator=g).split(batch))[:len(data) // batch]
        b = data[order.pop(0).tolist()]
        loss = model(b.data, b.masks)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if t.gradient_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.gradient_clip)
        opt.step()
        sched.step()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return leg_row("reference", model, val, steps, batch, wall, cpu, "32-true")


def step_timer(warmup: int, last: int):
    """A Lightning Callback timing (wall and CPU) the steps from ``warmup`` to ``last``."""
    import lightning as L

    class StepTimer(L.Callback):
        t0 = c0 = wall = cpu = 0.0

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if trainer.global_step == warmup:
                self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if trainer.global_step == last:
                self.wall, self.cpu = time.perf_counter() - self.t0, time.process_time() - self.c0

    return StepTimer()


def ours_leg(fusion: str, size: int, batch: int, steps: int, warmup: int) -> dict:
    """synesthesia's training path: ``synesthesia train``'s Trainer over its module and data module."""
    import dataclasses
    import tempfile

    from synesthesia.training.module import TensorDataModule, lightning_module
    from synesthesia.training.precision import resolve_precision
    from synesthesia.training.run import _trainer

    cfg, model, data, val = seeded_setup(fusion, size, batch, warmup + steps + 1)
    t = cfg.train = dataclasses.replace(cfg.train, max_steps=warmup + steps, max_epochs=10 ** 6)
    timer = step_timer(warmup, warmup + steps)
    module = lightning_module(model, t)
    datamodule = TensorDataModule(data, None, t.batch_size, t.num_workers, t.seed)
    with tempfile.TemporaryDirectory() as out:
        trainer = _trainer(cfg, Path(out), False, [timer])
        trainer.fit(module, datamodule=datamodule)
    if trainer.global_step != warmup + steps or not timer.wall:
        raise SystemExit(f"ours stopped at step {trainer.global_step} of {warmup + steps}")
    return leg_row("ours", model, val, steps, batch, timer.wall, timer.cpu,
                   resolve_precision(t.precision, t.accelerator, say=lambda line: None))


def run_leg(spec: str, args) -> dict:
    """One leg in a fresh process (its own peak memory); ``spec`` is fusion:size:leg."""
    cmd = [sys.executable, __file__, "--leg", spec, "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--batch", str(args.batch)]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if out.returncode:
        raise SystemExit(f"{spec} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(args) -> None:
    load = os.getloadavg()[0]
    base = {"modalities": "+".join(COMPARE_MODALITIES), "batch": args.batch, "steps": args.steps,
            "warmup": args.warmup, "cpu_shared": load > 0.5, "load_1min": round(load, 2),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "torch": torch.__version__,
            "bound": f"IWAE on {HELD_OUT} held-out val samples after equal steps (not equal CPU time)"}
    rows = []
    for fusion in args.fusions:
        for size in args.sizes:
            ref, ours = (run_leg(f"{fusion}:{size}:{leg}", args) for leg in ("reference", "ours"))
            row = {"fusion": fusion, "size": size, **base, "threads": ours["threads"],
                   "ratio": round(ours["samples_per_s"] / ref["samples_per_s"], 3)}
            for name, leg in (("reference", ref), ("ours", ours)):
                row.update({f"{name}_{k}": v for k, v in leg.items() if k not in ("leg", "threads")})
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    print_compare(rows, load)
    if args.write:
        with open(COMPARE_RESULTS, "a") as f:
            for row in rows:
                f.write(json.dumps({**row, "command": " ".join(["python benchmarks/train_speed.py", *sys.argv[1:]])})
                        + "\n")


def print_compare(rows: list[dict], load: float) -> None:
    if not rows:
        return
    r0 = rows[0]
    print(f"\nimage+text, batch {r0['batch']}, {r0['steps']} timed steps after {r0['warmup']} warm-up, "
          f"{r0['threads']} threads, load {load:.2f} before ({'shared' if r0['cpu_shared'] else 'idle'} CPU); "
          f"reference fp32 eager, ours {r0['ours_precision']}; bound: mean IWAE (k={r0['ours_iw_samples']}, nats) "
          f"on {HELD_OUT} held-out samples after the same steps for both legs: at equal steps, not at equal CPU "
          "time; compare their CPU s/step\n")
    print("| fusion | size | reference samples/s | ours samples/s | ratio ours/reference | reference bound | "
          "ours bound | CPU s/step reference/ours | peak RSS MB reference/ours |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['fusion']} | {r['size']} | {r['reference_samples_per_s']} | {r['ours_samples_per_s']} | "
              f"{r['ratio']:.2f} | {r['reference_iwae']} | {r['ours_iwae']} | "
              f"{r['reference_cpu_s_per_step']}/{r['ours_cpu_s_per_step']} | "
              f"{r['reference_peak_rss_mb']}/{r['ours_peak_rss_mb']} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="timed training seconds per configuration")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--precision", choices=["32", "bf16"], nargs="+", default=["32", "bf16"])
    ap.add_argument("--fusions", nargs="+", default=["poe", "moe", "mopoe"])
    ap.add_argument("--sets", nargs="+", default=list(MODALITY_SETS), choices=list(MODALITY_SETS))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--compare", action="store_true", help="plain-PyTorch fp32 reference vs synesthesia's training")
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64], help="--compare: image sizes (px)")
    ap.add_argument("--steps", type=int, default=30, help="--compare: timed steps per leg")
    ap.add_argument("--warmup", type=int, default=3, help="--compare: untimed steps first")
    ap.add_argument("--write", action="store_true", help="--compare: append rows to results/train-speed-compare.jsonl")
    ap.add_argument("--leg", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.leg:
        fusion, size, leg = args.leg.split(":")
        run = {"reference": reference_leg, "ours": ours_leg}[leg]
        print(json.dumps(run(fusion, int(size), args.batch, args.steps, args.warmup)))
        return
    if args.compare:
        compare(args)
        return
    if args.one:
        fusion, mods, precision = args.one.split(":")
        print(json.dumps(one(fusion, mods.split(","), args.batch, args.seconds, precision)))
        return

    matmul = matmul_gflops()
    rows = []
    for precision in args.precision:
        for name in args.sets:
            for fusion in args.fusions:
                spec = f"{fusion}:{','.join(MODALITY_SETS[name])}:{precision}"
                out = subprocess.run([sys.executable, __file__, "--one", spec, "--seconds", str(args.seconds),
                                      "--batch", str(args.batch)], capture_output=True, text=True,
                                     env={**os.environ, "PYTHONWARNINGS": "ignore"})
                if out.returncode:
                    raise SystemExit(out.stderr[-2000:])
                row = json.loads(out.stdout.strip().splitlines()[-1])
                row["fraction_of_fp32_matmul"] = round(row["achieved_gflops"] / matmul, 3)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    result = {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
              "fp32_matmul_gflops": round(matmul, 1), "batch": args.batch, "rows": rows}
    print(json.dumps(result, indent=2))
    print(f"\nfp32 matmul: {matmul:.0f} GFLOP/s on {os.cpu_count()} cores; level-5 world, 64 px images, batch {args.batch}\n")
    print("| fusion | modalities | precision | samples/s | peak RSS MB | MFLOP/sample | GFLOP/s | of fp32 matmul | parameters |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['fusion']} | {r['modalities']} | {r['precision']} | {r['samples_per_s']} | {r['peak_rss_mb']} | "
              f"{r['mflop_per_sample']} | {r['achieved_gflops']} | {r['fraction_of_fp32_matmul']:.1%} | "
              f"{r['parameters'] / 1e6:.2f} M |")


if __name__ == "__main__":
    main()
