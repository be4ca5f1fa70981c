"""``synesthesia world make | export | show``: the procedural shapes world."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from synesthesia.cli.options import add_out, add_section_arguments, add_set, section_values
from synesthesia.config import apply_overrides
from synesthesia.world.attributes import LEVELS, MODALITIES, WorldConfig, WorldError


def add_world_options(p: argparse.ArgumentParser) -> None:
    """Every field of the world's config as a flag (``--image-size``, ``--partial-caption-p``, ...),
    and ``--set key=value`` for the same keys."""
    fields = add_section_arguments(p, WorldConfig, skip=("holdout",), choices={"level": sorted(LEVELS)})
    p.add_argument("--holdout", action="append", default=[], metavar="COMBO",
                   help="attribute combination never shown in train/val, e.g. 'shape=star,colour=red' (repeatable)")
    p.set_defaults(world_fields=fields)
    add_set(p, "image_size=64")


def world_config_from_args(args: argparse.Namespace) -> WorldConfig:
    values = section_values(args, WorldConfig, args.world_fields)
    if args.holdout:
        values["holdout"] = list(args.holdout)
    return WorldConfig.from_dict(apply_overrides(values, args.set), "world")


def _splits(text: str) -> dict[str, float]:
    out = {}
    for part in (s.strip() for s in text.split(",") if s.strip()):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--splits takes name=fraction pairs like 'train=0.9,val=0.05,test=0.05', got {text!r}") from None
    return out


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty() or done == total:
        print(f"\r  {done}/{total} samples", end="\n" if done == total else "", file=sys.stderr)


def cmd_make(args: argparse.Namespace) -> int:
    from synesthesia.world.cache import write_cache
    from synesthesia.world.world import ShapesWorld

    world = ShapesWorld(world_config_from_args(args))
    t0 = time.perf_counter()
    out = write_cache(world, args.out, args.n, splits=args.splits, shard_size=args.shard_size,
                      audio_dtype=args.audio_dtype, overwrite=args.overwrite, progress=_progress)
    manifest = json.loads((out / "manifest.json").read_text())
    secs = time.perf_counter() - t0
    splits = ", ".join(f"{k}={v['n']}" for k, v in manifest["splits"].items())
    print(f"wrote {args.n} samples to {out} in {secs:.1f} s "
          f"({args.n / secs:.0f} samples/s, {manifest['bytes'] / 1e6:.1f} MB); splits: {splits}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from synesthesia.world.export import export_files

    manifest = export_files(args.cache, args.out, n=args.n, split=args.split,
                            video_format=args.video_format, overwrite=args.overwrite)
    print(f"wrote {args.n} samples as files to {args.out}; manifest {manifest}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from synesthesia.io import atomic_path
    from synesthesia.world.preview import preview_levels

    levels = [int(v) for v in args.levels.split(",") if v.strip()]
    bad = [v for v in levels if v not in LEVELS]
    if bad:
        raise WorldError(f"--levels takes numbers 1-5 separated by commas; got {args.levels!r}")
    if args.out.exists() and not args.overwrite:
        raise FileExistsError(f"{args.out} already exists; choose another --out or pass --overwrite")
    img = preview_levels(levels, per_level=args.n, image_size=args.image_size, seed=args.seed)
    with atomic_path(args.out) as tmp:
        img.save(tmp, format="PNG")
    print(f"wrote {args.out} ({img.width}x{img.height}) for levels {', '.join(map(str, levels))}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    world = sub.add_parser("world", help="the procedural shapes world: make, export, show",
                           description="The procedural shapes world: image, caption, sound and video "
                                       "rendered from the same attributes.")
    wsub = world.add_subparsers(dest="world_command", required=True, metavar="{make,export,show}")

    make = wsub.add_parser("make", help="render samples into a memory-mappable cache",
                           description="Render samples into a memory-mappable cache folder (written to a "
                                       "temporary name and renamed when complete). World options are the "
                                       "keys of the data.world section of a run config.")
    add_world_options(make)
    make.add_argument("--n", type=int, required=True, help="number of samples over all splits")
    add_out(make, "cache folder to create", overwrite="replace an existing --out folder that holds no cache, "
            "run or dataset")
    make.add_argument("--splits", type=_splits, default=None,
                      help="split fractions, default 'train=0.9,val=0.05,test=0.05' "
                           "(+ holdout=0.05 when --holdout is given)")
    make.add_argument("--shard-size", type=int, default=10_000, help="samples per shard (default 10000)")
    make.add_argument("--audio-dtype", default="int16", choices=["int16", "float16"],
                      help="how sound is stored (default int16)")
    make.set_defaults(func=cmd_make)

    export = wsub.add_parser("export", help="write samples of a cache as PNG/TXT/WAV/MP4 files",
                             description="Write samples of a cache as ordinary files plus a JSONL "
                                         "manifest (one line per sample: file per modality, attributes).")
    export.add_argument("cache", type=Path, help="cache folder made by 'synesthesia world make'")
    export.add_argument("--n", type=int, default=100, help="number of samples to export (default 100)")
    add_out(export, "folder to create", overwrite="replace an existing --out folder that holds no cache, "
            "run or dataset")
    export.add_argument("--split", default="train", help="split to export (default train)")
    export.add_argument("--video-format", default="mp4", choices=["mp4", "gif"],
                        help="video file format (default mp4)")
    export.set_defaults(func=cmd_export)

    show = wsub.add_parser("show", help="draw a labelled grid of samples",
                           description="Draw a labelled grid of samples, one row per level.")
    show.add_argument("--levels", default="1,2,3,4,5", help="levels to show, comma-separated (default 1,2,3,4,5)")
    show.add_argument("--n", type=int, default=8, help="samples per level (default 8)")
    show.add_argument("--image-size", type=int, default=64, help="image side in pixels (default 64)")
    show.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    add_out(show, "PNG file to write", overwrite="replace an existing --out file")
    show.set_defaults(func=cmd_show)


__all__ = ["MODALITIES", "add_world_options", "register", "world_config_from_args"]
