"""``synesthesia generate`` and ``synesthesia cycle``."""

from __future__ import annotations

import argparse
from pathlib import Path

from synesthesia.cli.options import add_generation_options, add_out, add_routes, generation_options, routes

EXTENSIONS = {"image": "png", "text": "txt", "audio": "wav", "video": "gif"}
SEED_LIMIT = 2 ** 63


def seed(text: str) -> int:
    """An argparse type: a whole number in [0, 2**63)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is a whole number, got {text!r}") from None
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"a seed lies in [0, 2**63), got {text}")
    return value


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {text}")
    return value


def cmd_generate(args: argparse.Namespace) -> int:
    from synesthesia.io import check_out_folder, claim_numbered
    from synesthesia.pipeline import load

    pipe = load(*args.run, routes=routes(args.route))
    given = {m: (str(v) if isinstance(v, Path) else v) for m, v in
             {"text": args.text, "image": args.image, "audio": args.audio, "video": args.video}.items()
             if v is not None}
    options = generation_options(args)
    out = check_out_folder(args.out, [])
    ext = args.format or EXTENSIONS[args.to]
    done, chunk = 0, 0
    while done < args.n:                           # batches are written before the next is drawn
        size = min(args.batch_size, args.n - done)
        outs = pipe.generate(args.to, **given, n=size, seed=args.seed + chunk, **options)
        for raw in outs:
            path = pipe.save(raw, args.to, claim_numbered(out, args.to, ext))
            print(f"{path}" + (f"\t{raw}" if args.to == "text" else ""), flush=True)
        done, chunk = done + size, chunk + 1
    if pipe.last_sampling:
        info = pipe.last_sampling
        print("sampler: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items()))
    return 0


def cmd_cycle(args: argparse.Namespace) -> int:
    from synesthesia.errors import SynesthesiaError
    from synesthesia.io import check_out_folder
    from synesthesia.pipeline import load
    from synesthesia.reports.cycle_page import CYCLE_FILES, write_cycle

    if (args.text is None) == (args.image is None):
        raise SynesthesiaError("start the cycle from --text or from --image (one of them)")
    folder = check_out_folder(args.out, CYCLE_FILES, args.overwrite, create=False)   # before the work
    pipe = load(*args.run, routes=routes(args.route))
    result = pipe.cycle(text=args.text, image=str(args.image) if args.image else None,
                        rounds=args.rounds, seed=args.seed)
    write_cycle(result, folder, overwrite=args.overwrite)
    for r, caps in enumerate(result.captions):
        print(f"round {r}: {caps[0] if caps else '(image)'}")
    for a in result.agreement:
        print(f"round {a['round']}: caption keeps the start {a['caption']:.0%}, image {a['image']:.0%}")
    print(f"wrote {folder / 'cycle.png'} and {folder / 'cycle.html'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from synesthesia.modalities import MODALITY_CLASSES

    g = sub.add_parser("generate", help="generate one modality from any subset of the others",
                       description="Generate outputs of --to from the given inputs with a trained run (or "
                                   "several: each direction goes to the best of them, or to --route). Outputs "
                                   "are written in batches as TO-KK.EXT with the next free number, so runs "
                                   "writing into one folder never replace each other's files.")
    g.add_argument("run", type=Path, nargs="+", help="run folder(s) made by 'synesthesia train' or 'quickstart'")
    add_routes(g)
    g.add_argument("--to", required=True, choices=list(MODALITY_CLASSES), help="target modality")
    g.add_argument("--text", help="caption to condition on")
    g.add_argument("--image", type=Path, help="image file to condition on")
    g.add_argument("--audio", type=Path, help="sound file (WAV/FLAC/OGG) to condition on")
    g.add_argument("--video", type=Path, help="video file (MP4/GIF) to condition on")
    g.add_argument("--n", type=positive, default=4, help="outputs to generate (default 4); any number, in batches")
    g.add_argument("--batch-size", type=positive, default=64, help="outputs per batch (default 64)")
    g.add_argument("--seed", type=seed, default=0, help="random seed (default 0); batch k uses seed + k")
    g.add_argument("--format", help="file extension for outputs (default png/txt/wav/gif)")
    add_out(g, "folder to write outputs into (created if missing; other files in it are left alone)")
    add_generation_options(g, steps=30)
    g.set_defaults(func=cmd_generate)

    c = sub.add_parser("cycle", help="image→text→image→… from a caption or an image",
                       description="Alternate text→image and image→text generation from --text or --image; "
                                   "write cycle.png, cycle.html and cycle.json into --out with the agreement "
                                   "with the start after each round.")
    c.add_argument("run", type=Path, nargs="+", help="run folder(s); with several, each direction goes to the best")
    add_routes(c)
    c.add_argument("--text", help="caption to start from")
    c.add_argument("--image", type=Path, help="image file to start from")
    c.add_argument("--rounds", type=positive, default=5, help="rounds (default 5)")
    c.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    add_out(c, "folder to write cycle.png/html/json into (created if missing; other files are left alone)",
            overwrite="replace cycle.png/html/json already in --out")
    c.set_defaults(func=cmd_cycle)
