"""``synesthesia train``, ``generate``, ``expander``, ``cycle`` and ``quickstart``."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

EXTENSIONS = {"image": "png", "text": "txt", "audio": "wav", "video": "gif"}


def cmd_train(args: argparse.Namespace) -> int:
    from synesthesia.config import RunConfig
    from synesthesia.training.run import train

    config = RunConfig.from_yaml(args.config, args.set)
    run = train(config, args.out, resume=args.resume, progress=not args.no_progress)
    metrics = json.loads((run / "metrics.json").read_text())["training"]
    print(f"trained {config.family} in {metrics['train_seconds']:.0f} s, {metrics['global_step']} steps; "
          f"run folder: {run}")
    return 0


def _routes(items: list[str]) -> dict[str, str]:
    routes = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"synesthesia: error: --route takes DIRECTION=RUN, e.g. 'text->image=runs/gan'; got {item!r}")
        direction, run = item.split("=", 1)
        routes[direction.strip()] = run.strip()
    return routes


def add_sampling_arguments(p: argparse.ArgumentParser, steps: int) -> None:
    """--sampler, --steps, --chains and --prior, as ``generate`` and ``evaluate`` take them."""
    p.add_argument("--sampler", default=None,
                   help="sample the posterior by MCMC instead of the encoder alone: mala, hmc or langevin")
    p.add_argument("--steps", type=int, default=steps, help=f"MCMC steps with --sampler (default {steps})")
    p.add_argument("--chains", type=int, default=1, help="MCMC chains per input with --sampler (default 1)")
    p.add_argument("--prior", default="standard", choices=["standard", "aggregate", "gmm"],
                   help="p(z) of the MCMC target with --sampler: N(0, I), the aggregate posterior of "
                        "2,000 training samples, or a Gaussian mixture fitted to it (default standard)")


def sampling_options(args: argparse.Namespace) -> dict:
    """The generation options the arguments of :func:`add_sampling_arguments` ask for."""
    if not args.sampler:
        return {}
    options = {"sampler": args.sampler, "steps": args.steps, "chains": args.chains}
    if args.prior != "standard":
        options["prior"] = args.prior
    return options


def cmd_generate(args: argparse.Namespace) -> int:
    import synesthesia

    pipe = synesthesia.load(*args.run, routes=_routes(args.route))
    given = {"text": args.text, "image": args.image, "audio": args.audio, "video": args.video}
    options = sampling_options(args)
    if args.no_expand:
        options["expand"] = False
    outs = pipe.generate(args.to, n=args.n, seed=args.seed, **given, **options)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    ext = args.format or EXTENSIONS[args.to]
    for k, raw in enumerate(outs):
        path = pipe.save(raw, args.to, out / f"{args.to}-{k:02d}.{ext}")
        print(f"{path}" + (f"\t{raw}" if args.to == "text" else ""))
    info = getattr(getattr(pipe, "model", None), "last_sampling", None)
    if info:
        print("sampler: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items()))
    return 0


def cmd_expander(args: argparse.Namespace) -> int:
    from synesthesia.models.transformer.expander import (ExpanderError, file_pairs, train_expander,
                                                         world_pairs)
    from synesthesia.runs import load_modalities, read_run

    config, run = read_run(args.run)
    modalities = load_modalities(config, run)
    if "text" not in modalities:
        raise ExpanderError(f"{run} has no text modality to expand; it has {', '.join(modalities)}")
    if args.pairs is not None:
        partial, complete = file_pairs(args.pairs)
    elif config.data.manifest is None and not config.data.path:
        from synesthesia.data.sources import WorldSource

        world = WorldSource.from_config(config.data.world, config.data.cache).config.to_dict()
        partial, complete = world_pairs(world, args.n_pairs)
    else:
        raise ExpanderError(f"{run} was not trained on the world; give --pairs FILE.jsonl with "
                            '{"partial": "...", "caption": "..."} lines')
    model, summary = train_expander(modalities["text"], partial, complete, minutes=args.minutes,
                                    steps=args.steps, seed=args.seed,
                                    log=None if args.quiet else (lambda line: print(line, flush=True)))
    model.save(run, {"trained": summary, "pairs": str(args.pairs) if args.pairs else "world"})
    print(json.dumps(summary))
    print(f"wrote {run / 'expander.safetensors'}; text conditions are now expanded "
          "(pipe.generate(..., expand=False) or --no-expand to turn it off)")
    return 0


def cmd_cycle(args: argparse.Namespace) -> int:
    import synesthesia
    from synesthesia.cycle import write_cycle

    if (args.text is None) == (args.image is None):
        print("synesthesia: error: start the cycle from --text or from --image (one of them)", file=sys.stderr)
        return 2
    pipe = synesthesia.load(*args.run, routes=_routes(args.route))
    result = pipe.cycle(text=args.text, image=str(args.image) if args.image else None,
                        rounds=args.rounds, seed=args.seed)
    folder = write_cycle(result, args.output)
    for r, caps in enumerate(result.captions):
        print(f"round {r}: {caps[0] if caps else '(image)'}")
    for a in result.agreement:
        print(f"round {a['round']}: caption keeps the start {a['caption']:.0%}, image {a['image']:.0%}")
    print(f"wrote {folder / 'cycle.png'} and {folder / 'cycle.html'}")
    return 0


QUICKSTART_CONFIG = {
    "family": "joint_vae",
    "model": {"fusion": "mopoe", "latent_dim": 48},
    "modalities": {},
    "data": {"world": {"level": 3, "image_size": 32, "video_size": 32, "video_frames": 8},
             "n_train": 20000, "n_val": 256},
    "train": {"batch_size": 64, "lr": 2e-3, "max_epochs": 100, "max_minutes": 4.5, "precision": "bf16-mixed",
              "checkpoint_every": 1000},
}


def cmd_quickstart(args: argparse.Namespace) -> int:
    from synesthesia.config import RunConfig, apply_overrides
    from synesthesia.gallery import image_to_text_accuracy, text_to_image_grid, write_gallery
    from synesthesia.pipeline import load
    from synesthesia.training.run import train
    from synesthesia.world import WorldConfig
    from synesthesia.world.world import ShapesWorld

    out = Path(args.out)
    if out.exists():
        if not args.overwrite:
            print(f"synesthesia: error: {out} exists; pass --overwrite to train again", file=sys.stderr)
            return 2
        shutil.rmtree(out)
    data = dict(QUICKSTART_CONFIG)
    overrides = [f"train.max_minutes={args.minutes}", f"data.n_train={args.n_train}",
                 f"model.fusion={args.fusion}", *args.set]
    config = RunConfig.from_dict(apply_overrides(data, overrides))
    t0 = time.perf_counter()
    print(f"training a {config.model['fusion']} joint VAE on the level-3 world "
          f"(image, text, audio, video) for at most {args.minutes} minutes ...", flush=True)
    train(config, out, progress=not args.no_progress)
    train_s = time.perf_counter() - t0
    pipe = load(out)
    world = ShapesWorld(WorldConfig.from_dict(config.data.world))
    acc = image_to_text_accuracy(pipe, world, n=args.eval_n)
    grid = text_to_image_grid(pipe, world, out / "text_to_image.png")
    summary = {"training seconds": round(train_s), "image→text strict accuracy (test)": f"{acc['strict']:.3f}",
               **{f"image→text {a}": f"{v:.3f}" for a, v in acc["per_attribute"].items()}}
    html = write_gallery(pipe, world, out, summary=summary)
    from synesthesia.runs import write_metrics

    write_metrics(out, {"quickstart": {"image_to_text": acc, "train_seconds": train_s}})
    print(f"\ntrained in {train_s / 60:.1f} min")
    print(f"image→text exact-attribute accuracy on {acc['n']} test images: strict {acc['strict']:.1%} "
          + ", ".join(f"{a} {v:.1%}" for a, v in acc["per_attribute"].items()))
    print(f"text→image grid to check by eye: {grid}")
    print(f"gallery of every direction: {html}")
    return 0


def _add_routing(p: argparse.ArgumentParser) -> None:
    p.add_argument("--route", action="append", default=[], metavar="DIRECTION=RUN",
                   help="send a direction to one of the runs, e.g. --route 'text->image=runs/gan' (repeatable)")


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a model from a YAML config into a run folder",
                       description="Train a model from a YAML config (presets in configs/) into a run "
                                   "folder: config.yaml, model.safetensors, tokenizer, logs, samples.")
    t.add_argument("config", type=Path, help="YAML config, e.g. configs/joint_vae/l3-32.yaml")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.lr=3e-4 --set model.fusion=poe")
    t.add_argument("--out", required=True, type=Path, help="run folder to write")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    t.set_defaults(func=cmd_train)

    g = sub.add_parser("generate", help="generate one modality from any subset of the others",
                       description="Generate outputs of --to from the given inputs with a trained run "
                                   "(or several: each direction goes to the best of them, or to --route).")
    g.add_argument("run", type=Path, nargs="+", help="run folder(s) made by 'synesthesia train' or 'quickstart'")
    _add_routing(g)
    g.add_argument("--to", required=True, choices=["image", "text", "audio", "video"], help="target modality")
    g.add_argument("--text", help="caption to condition on")
    g.add_argument("--image", type=Path, help="image file to condition on")
    g.add_argument("--audio", type=Path, help="sound file (WAV/FLAC) to condition on")
    g.add_argument("--video", type=Path, help="video file (MP4/GIF) to condition on")
    g.add_argument("--n", type=int, default=4, help="outputs to generate (default 4)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--format", help="file extension for outputs (default png/txt/wav/gif)")
    g.add_argument("-o", "--output", required=True, help="folder to write outputs into")
    add_sampling_arguments(g, steps=30)
    g.add_argument("--no-expand", action="store_true",
                   help="give --text to the model as it is, even when the run has a caption expander")
    g.set_defaults(func=cmd_generate)

    e = sub.add_parser("expander", help="train a caption expander for a run (partial caption -> complete)",
                       description="Train a small transformer that completes partial captions by sampling "
                                   "what they leave out, and store it in the run folder: text conditions "
                                   "are then expanded before the model sees them, so attributes a caption "
                                   "does not name vary as in the data.")
    e.add_argument("run", type=Path, help="run folder with a text modality")
    e.add_argument("--minutes", type=float, default=3.0, help="training time budget (default 3)")
    e.add_argument("--steps", type=int, default=None, help="stop after this many updates")
    e.add_argument("--pairs", type=Path, default=None,
                   help='JSONL of {"partial": ..., "caption": ...} lines (default: pairs from the run\'s world)')
    e.add_argument("--n-pairs", type=int, default=40000, help="world pairs to draw (default 40000)")
    e.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    e.add_argument("--quiet", action="store_true", help="no progress lines")
    e.set_defaults(func=cmd_expander)

    c = sub.add_parser("cycle", help="image→text→image→… from a caption or an image",
                       description="Alternate text→image and image→text generation from --text or --image; "
                                   "write the chain as PNG and HTML with the agreement with the start.")
    c.add_argument("run", type=Path, nargs="+", help="run folder(s); with several, each direction goes to the best")
    _add_routing(c)
    c.add_argument("--text", help="caption to start from")
    c.add_argument("--image", type=Path, help="image file to start from")
    c.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    c.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    c.add_argument("-o", "--output", required=True, type=Path, help="folder to write cycle.png/html/json into")
    c.set_defaults(func=cmd_cycle)

    q = sub.add_parser("quickstart", help="make a world, train a model, write a gallery (minutes)",
                       description="Train a MoPoE joint VAE on the level-3 world (32 px, all four "
                                   "modalities) within a time budget, measure image→text accuracy "
                                   "and write gallery.html showing every direction.")
    q.add_argument("--out", default="runs/quickstart", help="run folder (default runs/quickstart)")
    q.add_argument("--minutes", type=float, default=4.5, help="training time budget (default 4.5)")
    q.add_argument("--n-train", type=int, default=20000, help="training samples (default 20000)")
    q.add_argument("--fusion", default="mopoe", choices=["poe", "moe", "mopoe"], help="fusion (default mopoe)")
    q.add_argument("--eval-n", type=int, default=500, help="test images for the accuracy figure")
    q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    q.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    q.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    q.set_defaults(func=cmd_quickstart)
