"""``synesthesia train``, ``quickstart``, ``expander`` and ``gallery``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from synesthesia.cli.options import add_out, add_set


def _train(config, out: Path, resume: bool, progress: bool):
    from synesthesia.training.run import train

    return train(config, out, resume=resume, progress=progress)


def _gallery(run: Path, overwrite: bool = False, summary: dict | None = None) -> Path | None:
    """Write RUN/gallery.html when the run learnt the shapes world (its test samples are the inputs)."""
    from synesthesia.pipeline import load
    from synesthesia.reports.gallery import write_gallery

    pipe = load(run)
    if pipe.config.data.users_data:
        return None
    return write_gallery(pipe, run, summary=summary, overwrite=overwrite)


def stopped(err, command: str) -> int:
    """A loop stopped by SIGTERM (status 0: its state is saved) or SIGINT (130), and how to go on."""
    print(f"synesthesia: {err.signame}: stopped after step {err.step}; the state is saved in {err.checkpoint}; "
          f"continue with: {command}", file=sys.stderr)
    return 0 if err.signame == "SIGTERM" else 130


def cmd_train(args: argparse.Namespace) -> int:
    from synesthesia.checkpoint import Interrupted
    from synesthesia.runs import read_metrics
    from synesthesia.runs.config import RunConfig, find_config

    config = RunConfig.from_yaml(find_config(args.config), args.set)
    from synesthesia.training.run import _is_rank_zero

    try:
        run = _train(config, args.out, args.resume, not args.no_progress)
    except Interrupted as err:
        if not _is_rank_zero():                   # the other ranks of a DDP run: rank 0 speaks
            return 0
        out = shlex.quote(str(args.out))
        config_file = shlex.quote(str(Path(args.out) / "config.yaml"))
        return stopped(err, f"synesthesia train {config_file} --out {out} --resume")
    if not _is_rank_zero():
        return 0
    metrics = read_metrics(run)["training"]
    print(f"trained {config.family} for {metrics['global_step']} steps in {metrics['train_seconds']:.0f} s; "
          f"run folder: {run}")
    if not args.no_gallery:
        page = _gallery(run, overwrite=args.resume)
        if page is not None:
            print(f"gallery of every direction: {page}")
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    from synesthesia.io import refuse_protected
    from synesthesia.pipeline import load
    from synesthesia.reports.gallery import image_to_text_accuracy, text_to_image_grid
    from synesthesia.runs import write_metrics
    from synesthesia.runs.config import RunConfig, find_config

    out = Path(args.out)
    refuse_protected(out, "replace")
    config = RunConfig.from_yaml(find_config("quickstart"), args.set)
    steps = config.train.max_steps
    t0 = time.perf_counter()
    print(f"training a {config.model.fusion} joint VAE on the level-{config.data.world.level} world "
          f"({', '.join(config.data.world.modalities)}) for {steps} steps ...", flush=True)
    _train(config, out, False, not args.no_progress)
    train_s = time.perf_counter() - t0
    pipe = load(out)
    acc = image_to_text_accuracy(pipe, n=args.eval_n)
    grid = text_to_image_grid(pipe, out / "text_to_image.png")
    summary = {"training steps": steps, "training seconds": round(train_s),
               "image→text strict accuracy (test)": f"{acc['strict']:.3f}",
               **{f"image→text {a}": f"{v:.3f}" for a, v in acc["per_attribute"].items()}}
    page = _gallery(out, summary=summary)
    write_metrics(out, {"quickstart": {"image_to_text": acc, "train_seconds": train_s, "steps": steps}})
    print(f"\ntrained {steps} steps in {train_s / 60:.1f} min")
    print(f"image→text exact-attribute accuracy on {acc['n']} test images: strict {acc['strict']:.1%} "
          + ", ".join(f"{a} {v:.1%}" for a, v in acc["per_attribute"].items()))
    print(f"text→image grid to check by eye: {grid}")
    print(f"gallery of every direction: {page}")
    return 0


def cmd_expander(args: argparse.Namespace) -> int:
    from synesthesia.checkpoint import Interrupted
    from synesthesia.data.pairs import file_pairs, world_pairs
    from synesthesia.models.transformer.expander import ExpanderError
    from synesthesia.runs import load_modalities, read_run, save_expander
    from synesthesia.runs.folder import expander_checkpoint
    from synesthesia.training.expander import train_expander

    config, run = read_run(args.run)
    modalities = load_modalities(config, run)
    if "text" not in modalities:
        raise ExpanderError(f"{run} has no text modality to expand; it has {', '.join(modalities)}")
    if args.pairs is not None:
        partial, complete = file_pairs(args.pairs)
    elif config.data.users_data is None:
        partial, complete = world_pairs(config.data.world, args.n_pairs)
    else:
        raise ExpanderError(f"{run} was not trained on the world; give --pairs FILE.jsonl with "
                            '{"partial": "...", "caption": "..."} lines')
    again = " ".join(shlex.quote(a) for a in ["synesthesia", "expander", str(run), "--steps", str(args.steps),
                                               "--seed", str(args.seed), "--n-pairs", str(args.n_pairs),
                                               *(["--pairs", str(args.pairs)] if args.pairs else []), "--resume"])
    try:
        model, summary = train_expander(modalities["text"], partial, complete, steps=args.steps, seed=args.seed,
                                        log=None if args.quiet else (lambda line: print(line, flush=True)),
                                        checkpoint=expander_checkpoint(run), resume=args.resume, command=again)
    except Interrupted as err:
        return stopped(err, again)
    save_expander(run, model, {"trained": summary, "pairs": str(args.pairs) if args.pairs else "world"})
    print(json.dumps(summary))
    print(f"wrote the caption expander into {run}; text conditions are now expanded "
          "(pipe.generate(..., expand=False) or --no-expand to turn it off)")
    return 0


def cmd_gallery(args: argparse.Namespace) -> int:
    page = _gallery(args.run, overwrite=args.overwrite)
    if page is None:
        print(f"{args.run} was trained on users' files; the gallery shows the shapes world's test samples, "
              "so there is none to write (use 'synesthesia evaluate RUN --data ...' for a report)")
        return 0
    print(f"gallery of every direction: {page}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a model from a YAML config into a run folder",
                       description="Train a model from a config (a preset name such as 'joint_vae/l5-32', a "
                                   "YAML file, or a run folder's config) into a run folder: config.yaml, "
                                   "model.safetensors, tokenizer, logs, samples, gallery.html.")
    t.add_argument("config", help="preset name or YAML file, e.g. joint_vae/l3-32 or configs/gan/l5-32.yaml")
    add_set(t, "train.lr=3e-4 --set model.fusion=poe")
    add_out(t, "run folder to write (must be new or empty, unless --resume)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--no-gallery", action="store_true", help="do not write RUN/gallery.html after training")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    t.set_defaults(func=cmd_train)

    q = sub.add_parser("quickstart", help="train a small model on the world and write a gallery (minutes)",
                       description="Train a MoPoE joint VAE on the level-3 world (32 px, all four modalities) "
                                   "for a fixed number of steps (the preset 'quickstart'), measure image→text "
                                   "accuracy and write gallery.html showing every direction.")
    add_out(q, "run folder to create", default="runs/quickstart")
    add_set(q, "train.max_steps=3000")
    q.add_argument("--eval-n", type=int, default=500, help="test images for the accuracy figure (default 500)")
    q.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    q.set_defaults(func=cmd_quickstart)

    e = sub.add_parser("expander", help="train a caption expander for a run (partial caption -> complete)",
                       description="Train a small transformer that completes partial captions by sampling "
                                   "what they leave out, and store it in the run folder: text conditions "
                                   "are then expanded before the model sees them, so attributes a caption "
                                   "does not name vary as in the data.")
    e.add_argument("run", type=Path, help="run folder with a text modality")
    e.add_argument("--steps", type=int, default=2000, help="training updates (default 2000, about 4 minutes here)")
    e.add_argument("--pairs", type=Path, default=None,
                   help='JSONL of {"partial": ..., "caption": ...} lines (default: pairs from the run\'s world)')
    e.add_argument("--n-pairs", type=int, default=40000, help="world pairs to draw (default 40000)")
    e.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    e.add_argument("--quiet", action="store_true", help="no progress lines")
    e.add_argument("--resume", action="store_true",
                   help="continue from RUN/checkpoints/expander.ckpt (same --steps, --seed and pairs)")
    e.set_defaults(func=cmd_expander)

    g = sub.add_parser("gallery", help="write RUN/gallery.html: every direction on test samples",
                       description="Write RUN/gallery.html (and RUN/gallery/): every direction the run serves "
                                   "on test samples of its world, joint samples, and playable media.")
    g.add_argument("run", type=Path, help="run folder")
    g.add_argument("--overwrite", action="store_true", help="replace an existing gallery of the run")
    g.set_defaults(func=cmd_gallery)
