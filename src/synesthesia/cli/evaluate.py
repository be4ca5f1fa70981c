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
    from synesthesia.evaluation.evaluate import ScorerBudget, evaluate

    options = generation_options(args)
    budget = ScorerBudget(max_epochs=args.scorer_epochs, patience=args.scorer_patience, seed=args.seed)
    metrics = evaluate(args.run, data=args.data, n=args.n, out=args.out, seed=args.seed,
                       cycle_rounds=args.cycle_rounds, oracle_dir=args.oracle_cache, log=_log,
                       scorer_dir=args.scorer_cache, scorer_budget=budget, data_format=args.data_format,
                       overwrite=args.overwrite, **options)
    print(summary(metrics))
    print(f"\nmetrics: {args.out / 'metrics.json'}\nreport:  {args.out / 'report.html'}")
    return 0


def summary(metrics: dict) -> str:
    """A few headline figures as text."""
    from synesthesia.evaluation.evaluate import coherence_key

    lines = [f"evaluated {metrics['run']} on {metrics['n']} test samples in {metrics.get('seconds', '?')} s"]
    key = coherence_key(metrics)
    for name in ("text->image", "image->text", "audio->image", "text->video", "text->audio"):
        v = metrics.get("coherence", {}).get(name)
        if v and not math.isnan(v[key]):
            ceiling = ""
            if key == "r_precision":
                given, target = name.split("->")
                real = metrics.get("real_pairs", {}).get(f"{given}<->{target}")
                ceiling = f" (real pairs {real['r_precision']:.3f})" if real else ""
            lines.append(f"  {name:14s} {'strict coherence' if key == 'strict' else 'R-precision'} "
                         f"{v[key]:.3f}{ceiling}")
    if "joint_coherence" in metrics:
        lines.append(f"  joint coherence {metrics['joint_coherence']['strict']:.3f}")
    for m, f in metrics.get("fid", {}).items():
        lines.append(f"  FID {m} {f:.2f}")
    for name, v in metrics.get("captioning", {}).items() if key == "r_precision" else ():
        lines.append(f"  {name:14s} BLEU-4 {v['bleu4']:.3f} CIDEr-D {v['cider_d']:.3f}")
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
                   help="a world cache folder, or your own data in any layout 'synesthesia data inspect' "
                        "reads (a manifest.jsonl, COCO, Karpathy, Flickr30k, HF folders, AudioCaps, Clotho, "
                        "MSR-VTT, WebDataset shards); default: the run's world. Its test (else val) split is "
                        "evaluated, its other samples train the scorers")
    p.add_argument("--data-format", default=None,
                   help="force the layout of --data instead of detecting it (as data.format)")
    p.add_argument("--n", type=int, default=1000, help="test samples (default 1000)")
    add_out(p, "folder for metrics.json, report.html and figures/ (created if missing; other files are left "
               "alone)", overwrite="replace metrics.json, report.html and figures/ already in --out")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--cycle-rounds", type=int, default=3, help="image→text→image rounds (default 3; 0 skips)")
    p.add_argument("--scorer-epochs", type=int, default=20,
                   help="users' data: epochs a contrastive scorer trains at most (default 20)")
    p.add_argument("--scorer-patience", type=int, default=3,
                   help="users' data: stop a scorer after this many epochs without a better held-out "
                        "R-precision (default 3)")
    p.add_argument("--scorer-cache", type=Path, default=None,
                   help="where scorers are cached (default $SYNESTHESIA_CACHE/scorers or ~/.cache/synesthesia/scorers)")
    p.add_argument("--oracle-cache", type=Path, default=None,
                   help="where oracles are cached (default $SYNESTHESIA_CACHE/oracles or ~/.cache/synesthesia/oracles)")
    add_generation_options(p, steps=50)
    p.set_defaults(func=cmd_evaluate)
