"""The leaderboard: train for a fixed budget, evaluate, append a row.

    python benchmarks/quality.py --family joint_vae --fusion mopoe --level 3 --size 32 --budget-steps 5000 --seed 1

Trains the preset ``configs/<family>/l<level>-<size>.yaml`` (with ``--modalities``, default
image+text as in the CdSprites+ benchmark) for ``--budget-steps`` optimiser steps (the same model
on a busy machine as on a quiet one) or for at most ``--budget-minutes`` of wall-clock time (then
the row records the steps reached, which depend on the machine),
evaluates it on 1,000 test samples with the oracles, and appends a row to
``benchmarks/results/leaderboard.md`` (and the full metrics to ``leaderboard.jsonl``) shaped like
the CdSprites+ leaderboard: strict and per-attribute accuracy for text→image, image→text and
joint samples, per level. Run it with nothing else busy on the machine.

    python benchmarks/quality.py --family transformer --variant ar-l5-video --level 5 --modalities video,text \
        --resume --out runs/ar-l5-video --budget-minutes 90

continues the run in ``--out`` (its own ``config.yaml`` and ``--set``) until it has trained for
``--budget-minutes`` in all, then evaluates it and appends its row; a run that already spent its
budget (e.g. one resumed with ``synesthesia train --resume``) is evaluated as it is.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHORT = {"shape": "S", "size": "Z", "colour": "C", "position": "P", "background": "B", "motion": "M"}
HEADER = ("| family | fusion | level | px | modalities | budget | steps | text→image strict | per attribute "
          "| image→text strict | per attribute | joint strict | per attribute | FID image | date |")


def _per(d: dict) -> str:
    return " ".join(f"{SHORT.get(a, a)} {v:.2f}" for a, v in d.items())


def _column(coherence: dict, preferred: str, targets: tuple[str, ...]) -> dict:
    """The ``preferred`` direction's coherence, else the first direction into one of ``targets``
    (a sound captioner fills the image→text column with sound→text; the row's modalities say
    which)."""
    if preferred in coherence:
        return coherence[preferred]
    return next((v for k, v in coherence.items() if k.split("->")[-1] in targets), {})


def row(args, metrics: dict, steps: int) -> str:
    coh = metrics["coherence"]
    nan = {"strict": float("nan"), "per_attribute": {}}          # models without unconditional samples
    t2i, i2t, joint = _column(coh, "text->image", ("image", "video")), _column(coh, "image->text", ("text",)), \
        metrics.get("joint_coherence", nan)
    fid = metrics.get("fid", {}).get("image", float("nan"))
    name = args.fusion if args.family == "joint_vae" else args.variant
    budget = f"{args.budget_minutes:g} min" if args.budget_minutes else f"{args.budget_steps} steps"
    return (f"| {args.family} | {name} | {args.level} | {args.size} | {args.modalities} | {budget} | "
            f"{steps} | {t2i.get('strict', float('nan')):.3f} | {_per(t2i.get('per_attribute', {}))} | "
            f"{i2t.get('strict', float('nan')):.3f} | {_per(i2t.get('per_attribute', {}))} | "
            f"{joint['strict']:.3f} | {_per(joint['per_attribute'])} | {fid:.2f} | {time.strftime('%Y-%m-%d')} |")


def append(line: str, record: dict) -> None:
    from synesthesia.io import append_jsonl, write_text_atomic

    RESULTS.mkdir(parents=True, exist_ok=True)
    table = RESULTS / "leaderboard.md"
    text = table.read_text() if table.is_file() else (
        "# Leaderboard (shapes world, `benchmarks/quality.py`)\n\nS shape, Z size, C colour, P position, "
        "B background, M motion. Strict: every attribute right. Joint: unconditional samples whose image "
        "and caption agree. A model without text→image (image→text) shows its first direction into "
        "image or video (into text) there; the modalities column says from what.\n\n"
        + HEADER + "\n" + "|---" * (HEADER.count("|") - 1) + "|\n")
    write_text_atomic(table, text + line + "\n")
    append_jsonl(RESULTS / "leaderboard.jsonl", record)


def directions_only(pipe, n: int) -> dict:
    """The parts of the evaluation suite for a model that cannot sample every modality
    unconditionally (a captioner): coherence of each direction it serves, captioning scores and
    conditional fidelity."""
    from synesthesia.evaluation.generation import direction_name, load_eval_data, model_directions
    from synesthesia.evaluation.suite import WorldEvaluation

    t0 = time.perf_counter()
    suite = WorldEvaluation(pipe, load_eval_data(pipe, None, n), log=lambda s: print(s, file=sys.stderr))
    directions = model_directions(pipe)
    metrics: dict = {"coherence": {direction_name(g, t): suite.direction(g, t) for g, t in directions}}
    metrics["captioning"] = suite.captioning(directions)
    metrics["fidelity"] = suite.fidelity(directions)
    metrics["fid"] = {m: v["conditional"]["fid"] for m, v in metrics["fidelity"].items() if "conditional" in v}
    metrics["seconds"] = round(time.perf_counter() - t0, 1)
    return metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", default="joint_vae")
    ap.add_argument("--fusion", default="mopoe", help="joint VAE fusion (poe, moe, mopoe)")
    ap.add_argument("--variant", default="default", help="name of the model variant for other families")
    ap.add_argument("--level", type=int, default=3)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--modalities", default="image,text")
    ap.add_argument("--budget-minutes", type=float, default=None, help="wall-clock budget (the steps reached vary)")
    ap.add_argument("--budget-steps", type=int, default=None, help="step budget (reproducible on any machine)")
    ap.add_argument("--seed", type=int, default=0, help="training seed (train.seed)")
    ap.add_argument("--n", type=int, default=1000, help="test samples for the evaluation")
    ap.add_argument("--set", action="append", default=[], help="extra config overrides")
    ap.add_argument("--out", type=Path, default=None, help="run folder (default: a temporary one under runs/)")
    ap.add_argument("--keep", action="store_true", help="keep the run folder")
    ap.add_argument("--resume", action="store_true",
                    help="continue the run in --out to --budget-minutes in all instead of training the preset")
    args = ap.parse_args()
    if (args.budget_minutes is None) == (args.budget_steps is None):
        ap.error("give one budget: --budget-steps N (reproducible) or --budget-minutes M")
    budget = ([f"train.max_steps={args.budget_steps}", "train.max_minutes=null"] if args.budget_steps
              else [f"train.max_minutes={args.budget_minutes}", "train.max_steps=-1"])
    if args.resume and (args.out is None or not (args.out / "config.yaml").is_file()):
        ap.error("--resume needs --out RUN, a run folder with a config.yaml (train it first without --resume)")

    from synesthesia.evaluation.evaluate import evaluate
    from synesthesia.runs.config import RunConfig
    from synesthesia.training.run import train

    if args.resume:                                       # the run's own config, a new total budget
        config = RunConfig.from_yaml(args.out / "config.yaml", [*budget, *args.set])
    else:
        preset = ROOT / "configs" / args.family / f"l{args.level}-{args.size}.yaml"
        if args.family == "transformer":                  # transformer presets are named by variant
            preset = ROOT / "configs" / "transformer" / f"{args.variant}.yaml"
        overrides = [*budget, "train.max_epochs=1000", "data.n_train=60000", f"train.seed={args.seed}",
                     f"data.modalities=[{args.modalities}]", *args.set]
        if args.family == "joint_vae":
            overrides.append(f"model.fusion={args.fusion}")
        config = RunConfig.from_yaml(preset, overrides)
    name = args.fusion if args.family == "joint_vae" else args.variant
    out = args.out or ROOT / "runs" / "leaderboard" / f"{args.family}-{name}-l{args.level}-{args.size}-s{args.seed}"
    if out.exists() and not args.resume:
        ap.error(f"{out} exists; give another --out, or --resume to continue it")
    t0 = time.perf_counter()
    train(config, out, resume=args.resume, progress=False)
    train_s = time.perf_counter() - t0
    steps = json.loads((out / "metrics.json").read_text())["training"]["global_step"]
    from synesthesia.pipeline import load

    pipe = load(out)
    # the leaderboard scores complete captions, whatever captions the run trained on
    pipe.config.data.world = dataclasses.replace(pipe.config.data.world, partial_caption_p=0.0)
    # the image→text→image cycle needs both directions (conditional GANs generate pixels only)
    cycle = 3 if {(("image",), "text"), (("text",), "image")} <= set(pipe.directions()) else 0
    if set(getattr(pipe.model, "unconditional", lambda: pipe.modalities)()) >= set(pipe.modalities):
        metrics = evaluate(pipe, n=args.n, out=out / "evaluation", cycle_rounds=cycle, overwrite=True,
                           log=lambda s: print(s, file=sys.stderr))
    else:                                                 # no joint samples (captioners)
        metrics = directions_only(pipe, args.n)
    line = row(args, metrics, steps)
    append(line, {"args": {k: str(v) for k, v in vars(args).items()}, "train_seconds": round(train_s, 1),
                  "steps": steps, "metrics": metrics})
    print(HEADER)
    print(line)
    if not args.keep and args.out is None:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
