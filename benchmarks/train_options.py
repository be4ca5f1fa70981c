"""Training-step time of the joint VAE under the options that leave its results unchanged: eager
(the default), channels-last convolutions, and ``torch.compile`` (``train.compile``).

    OMP_NUM_THREADS=1 python benchmarks/train_options.py [--size 32] [--rounds 4] [--steps 8] [--write]

The three variants are built from the same seed (MoPoE, level 5, image+text, batch 64) in one
process and timed in alternating rounds of ``--steps`` steps (so a busy machine slows them alike);
the median seconds per step of the rounds is reported, with the first steps' time (compilation for
``compile``). ``--write`` appends the rows to ``benchmarks/results/train-options.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

from train_speed import build

VARIANTS = ("eager", "channels-last", "compile")
RESULTS = Path(__file__).resolve().parent / "results" / "train-options.jsonl"


def variant(name: str, size: int, batch: int):
    """(call, model, optimiser, data) for one variant, from seed 0."""
    torch.manual_seed(0)
    model, data = build("mopoe", ["image", "text"], batch, size)
    if name == "channels-last":
        model = model.to(memory_format=torch.channels_last)
    call = torch.compile(model) if name == "compile" else model
    return call, model, torch.optim.AdamW(model.parameters(), lr=1e-3), data


def step(v, name: str, k: int, batch: int) -> None:
    call, _, opt, data = v
    b = data[[(k * batch + i) % len(data) for i in range(batch)]]
    x = dict(b.data)
    if name == "channels-last":
        x["image"] = x["image"].contiguous(memory_format=torch.channels_last)
    loss = call(x, b.masks)["loss"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=8, help="steps per round")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    built = {n: variant(n, args.size, args.batch) for n in VARIANTS}
    first = {}
    for n in VARIANTS:
        t0 = time.perf_counter()
        for k in range(3):
            step(built[n], n, k, args.batch)
        first[n] = time.perf_counter() - t0
    times = {n: [] for n in VARIANTS}
    for _ in range(args.rounds):
        for n in VARIANTS:
            t0 = time.perf_counter()
            for k in range(args.steps):
                step(built[n], n, k, args.batch)
            times[n].append((time.perf_counter() - t0) / args.steps)
    rows = [{"variant": n, "size": args.size, "batch": args.batch, "threads": torch.get_num_threads(),
             "s_per_step_median": round(statistics.median(times[n]), 3), "s_per_step_rounds": [round(t, 3) for t in times[n]],
             "first_3_steps_s": round(first[n], 1),
             "vs_eager": round(statistics.median(times["eager"]) / statistics.median(times[n]), 2),
             "load_1min": round(load, 1), "cpu_shared": load > 0.5,
             "command": f"OMP_NUM_THREADS=1 python benchmarks/train_options.py --size {args.size}"} for n in VARIANTS]
    for r in rows:
        print(json.dumps(r))
    if args.write:
        with open(RESULTS, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()
