"""A fixed amount of joint-VAE training (MoPoE, image+text, level 5, 64 px, batch 64, bf16) for
timing from outside: how a training slows down when other jobs share the cores, under each OpenMP
wait policy and thread count (set them in the environment; the command prints its steps/s).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/shared_cpu.py --steps 20
    farm-bench --vs 'env OMP_WAIT_POLICY=ACTIVE python benchmarks/shared_cpu.py' -- \\
        env OMP_WAIT_POLICY=PASSIVE python benchmarks/shared_cpu.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

from train_speed import build


def train_step(model, opt, data, k: int, args) -> None:
    """One optimiser step on batch ``k`` (the data cycled), in the precision asked for."""
    b = data[[(k * args.batch + i) % len(data) for i in range(args.batch)]]
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
        loss = model(b.data, b.masks)["loss"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def profile_steps(model, opt, data, args) -> None:
    """Self CPU time by operator over three more steps, the largest first."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for k in range(3):
            train_step(model, opt, data, k, args)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--precision", choices=["bf16", "32"], default="bf16")
    ap.add_argument("--profile", action="store_true", help="print where a step's time goes (torch.profiler)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (oneDNN picks its kernels)")
    args = ap.parse_args()
    torch.manual_seed(0)
    model, data = build("mopoe", ["image", "text"], args.batch)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for k in range(-args.warmup, args.steps):
        if k == 0:
            t0 = time.perf_counter()
        train_step(model, opt, data, k, args)
    rate = args.steps / (time.perf_counter() - t0)
    if args.profile:
        profile_steps(model, opt, data, args)
    print(f"{rate:.3f} steps/s, {args.precision}, {torch.get_num_threads()} threads, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
