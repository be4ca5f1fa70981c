"""``synesthesia evaluate RUN [--data DIR] [--n 1000] --out DIR``."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from synesthesia.cli.options import add_generation_options, add_out, generation_options


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from synesthesia.evaluation.evaluate import evaluate

    options = generation_options(args)
    metrics = evaluate(args.run, data=args.data, n=args.n, out=args.out, seed=args.seed,
                       cycle_rounds=args.cycle_rounds, oracle_dir=args.oracle_cache, log=_log,
                       overwrite=args.overwrite, **options)
    print(summary(metrics))
    print(f"\nmetrics: {args.out / 'metrics.json'}\nreport:  {args.out / 'report.html'}")
    return 0


def summary(metrics: dict) -> str:
    """A few headline figures as text."""
    lines = [f"evaluated {metrics['run']} on {metrics['n']} test samples in {metrics.get('seconds', '?')} s"]
    for key in ("text->image", "image->text", "audio->image", "text->video", "text->audio"):
        v = metrics.get("coherence", {}).get(key)
        if v and not math.isnan(v["strict"]):
            lines.append(f"  {key:14s} strict coherence {v['strict']:.3f}")
    if "joint_coherence" in metrics:
        lines.append(f"  joint coherence {metrics['joint_coherence']['strict']:.3f}")
    for m, f in metrics.get("fid", {}).items():
        lines.append(f"  FID {m} {f:.2f}")
    if metrics.get("cycle"):
        last = metrics["cycle"][-1]
        lines.append("  cycle after round {}: {}".format(
            last["round"], ", ".join(f"{k} {v:.3f}" for k, v in last.items() if k != "round")))
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="measure coherence, fidelity, diversity, cycle and likelihood",
                       description="Evaluate a trained run on test samples and write metrics.json, report.html "
                                   "and figures/ into --out (a table per direction, a coherence heat map, "
                                   "sample grids).")
    p.add_argument("run", type=Path, help="run folder made by 'synesthesia train'")
    p.add_argument("--data", type=Path, default=None,
                   help="a world cache folder or a manifest.jsonl of your own files (default: the run's world)")
    p.add_argument("--n", type=int, default=1000, help="test samples (default 1000)")
    add_out(p, "folder for metrics.json, report.html and figures/ (created if missing; other files are left "
               "alone)", overwrite="replace metrics.json, report.html and figures/ already in --out")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--cycle-rounds", type=int, default=3, help="image→text→image rounds (default 3; 0 skips)")
    p.add_argument("--oracle-cache", type=Path, default=None,
                   help="where oracles are cached (default $SYNESTHESIA_CACHE/oracles or ~/.cache/synesthesia/oracles)")
    add_generation_options(p, steps=50)
    p.set_defaults(func=cmd_evaluate)
