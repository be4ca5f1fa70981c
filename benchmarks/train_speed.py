"""Training speed of the joint VAE: samples/second, peak memory, FLOPs and hardware efficiency.

For each fusion (poe, moe, mopoe) on the level-5 world at 64 px (video 8 frames of 32 px),
batch 64, with all four modalities and with image+text only, prints: training samples/second
(forward, backward and AdamW step on batches drawn from an in-memory dataset), peak resident
memory, model FLOPs per training sample (torch.utils.flop_counter), achieved GFLOP/s, and that as a
fraction of this machine's fp32 matmul GFLOP/s measured in the same run, plus parameter counts.
Each configuration runs in its own process so peak memory is its own.

    python benchmarks/train_speed.py [--seconds 20] [--precision 32|bf16] [--fusions mopoe]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

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


def build(fusion: str, modalities: list[str], batch: int):
    from synesthesia.data.sources import open_source
    from synesthesia.models.registry import build_model
    from synesthesia.runs.config import RunConfig
    from synesthesia.training.run import resolve_modalities

    cfg = RunConfig.from_dict({
        "model": {"fusion": fusion, "latent_dim": 48},
        "data": {"world": {"level": 5, "image_size": 64, "video_size": 32, "video_frames": 8},
                 "modalities": modalities, "n_train": 4 * batch},
    })
    source = open_source(cfg.data.world)
    mods = resolve_modalities(cfg, source)
    data = source.dataset("train", 4 * batch, mods)
    return build_model("joint_vae", mods, cfg.model), data


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="timed training seconds per configuration")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--precision", choices=["32", "bf16"], nargs="+", default=["32", "bf16"])
    ap.add_argument("--fusions", nargs="+", default=["poe", "moe", "mopoe"])
    ap.add_argument("--sets", nargs="+", default=list(MODALITY_SETS), choices=list(MODALITY_SETS))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
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
