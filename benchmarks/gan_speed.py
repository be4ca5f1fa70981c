"""Updates per second of the conditional GAN: one batch's draw and both players' steps.

    python benchmarks/gan_speed.py [--modalities video,text] [--batch 64] [--steps 5] \\
        [--set model.sampled_frames=2 ...] [--compare model.sampled_frames=0,2,3]

Builds the model of ``configs/gan/l5-32.yaml`` for the given modalities, renders one batch of the
level-5 world and times ``--steps`` adversarial updates (after one warm-up) exactly as the trainer
takes them, without data loading. ``--compare KEY=V1,V2,...`` times one model per value. Prints
one line per model: updates/s, samples/s and parameters.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def time_updates(overrides: list[str], modalities: str, batch: int, steps: int) -> tuple[float, int]:
    import torch

    from synesthesia.data.sources import open_source
    from synesthesia.models.registry import build_model
    from synesthesia.runs.config import RunConfig
    from synesthesia.training.adversarial import plain_update
    from synesthesia.training.run import resolve_modalities

    cfg = RunConfig.from_yaml(ROOT / "configs" / "gan" / "l5-32.yaml",
                              [f"data.n_train={batch}", f"data.modalities=[{modalities}]", *overrides])
    source = open_source(cfg.data.world, cfg.data.cache, cfg.data.manifest)
    mods = resolve_modalities(cfg, source)
    data = source.dataset("train", batch, mods, 0.0)[list(range(batch))]
    model = build_model(cfg.family, mods, cfg.model)
    groups = model.parameter_groups()
    opt_g = torch.optim.Adam(groups["generator"], cfg.train.lr, betas=tuple(model.config.betas))
    opt_d = torch.optim.Adam(groups["discriminator"], cfg.train.lr, betas=tuple(model.config.betas))

    def update() -> None:
        plain_update(model, data, opt_g, opt_d)

    update()
    t0 = time.perf_counter()
    for _ in range(steps):
        update()
    return steps / (time.perf_counter() - t0), sum(p.numel() for p in model.parameters())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modalities", default="video,text")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--set", action="append", default=[], dest="overrides", help="config override KEY=VALUE")
    ap.add_argument("--compare", default=None, help="KEY=V1,V2,... : one model per value")
    args = ap.parse_args()
    runs = [args.overrides]
    if args.compare:
        key, _, values = args.compare.partition("=")
        runs = [[*args.overrides, f"{key}={v}"] for v in values.split(",")]
    for overrides in runs:
        rate, params = time_updates(overrides, args.modalities, args.batch, args.steps)
        print(f"{args.modalities:<12} {' '.join(overrides) or '(preset)':<40} {rate:6.2f} updates/s "
              f"{rate * args.batch:8.1f} samples/s {params / 1e6:6.2f} M parameters", flush=True)


if __name__ == "__main__":
    main()
