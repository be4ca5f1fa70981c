"""``synesthesia world ...``: make a cache, export files, show a preview grid."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from synesthesia.world.attributes import LEVELS, MODALITIES, WorldConfig, WorldError


def _csv(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def _levels(text: str) -> list[int]:
    try:
        levels = [int(s) for s in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--level takes numbers 1-5 separated by commas, got {text!r}")
    for lv in levels:
        if lv not in LEVELS:
            raise argparse.ArgumentTypeError(f"level {lv} does not exist; choose from 1-5")
    return levels


def _splits(text: str) -> dict[str, float]:
    out = {}
    for part in _csv(text):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--splits takes name=fraction pairs like 'train=0.9,val=0.05,test=0.05', got {text!r}")
    return out


def add_world_options(p: argparse.ArgumentParser, level_help: str = "difficulty level 1-5") -> None:
    """World options shared by ``make`` and other commands that build a world."""
    p.add_argument("--level", type=int, default=3, choices=sorted(LEVELS), help=level_help)
    p.add_argument("--size", type=int, default=32, help="image side in pixels (default 32)")
    p.add_argument("--video-size", type=int, default=32, help="video frame side in pixels (default 32)")
    p.add_argument("--frames", type=int, default=8, help="video frames per sample (default 8)")
    p.add_argument("--sample-rate", type=int, default=8000, help="sound sample rate in Hz (>= 8000)")
    p.add_argument("--modalities", type=_csv, default=MODALITIES,
                   help="comma-separated subset of image,text,audio,video (default: all four)")
    p.add_argument("--attributes", type=_csv, default=None,
                   help="custom comma-separated attribute set instead of the level's, "
                        "e.g. shape,colour,background")
    p.add_argument("--holdout", action="append", default=[], metavar="COMBO",
                   help="attribute combination never shown in train/val, e.g. 'shape=star,colour=red'; "
                        "repeatable")
    p.add_argument("--partial-p", type=float, default=0.0,
                   help="probability of leaving each attribute out of a caption (default 0)")
    p.add_argument("--seed", type=int, default=0, help="world seed (default 0)")


def world_config_from_args(args: argparse.Namespace) -> WorldConfig:
    return WorldConfig(level=args.level, attributes=args.attributes, image_size=args.size,
                       video_size=args.video_size, video_frames=args.frames,
                       sample_rate=args.sample_rate, modalities=args.modalities,
                       holdout=tuple(args.holdout), partial_caption_p=args.partial_p, seed=args.seed)


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
    from synesthesia.world.preview import preview_levels, save_image

    img = preview_levels(args.level, per_level=args.n, image_size=args.size, seed=args.seed)
    save_image(img, args.out)
    print(f"wrote {args.out} ({img.width}x{img.height}) for levels {', '.join(map(str, args.level))}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    world = sub.add_parser("world", help="the procedural shapes world: make, export, show",
                           description="The procedural shapes world: image, caption, sound and video "
                                       "rendered from the same attributes.")
    wsub = world.add_subparsers(dest="world_command", required=True, metavar="{make,export,show}")

    make = wsub.add_parser("make", help="render samples into a memory-mappable cache",
                           description="Render samples into a memory-mappable cache folder "
                                       "(written to a temporary name and renamed when complete).")
    add_world_options(make)
    make.add_argument("--n", type=int, required=True, help="number of samples over all splits")
    make.add_argument("--out", required=True, type=Path, help="cache folder to create")
    make.add_argument("--splits", type=_splits, default=None,
                      help="split fractions, default 'train=0.9,val=0.05,test=0.05' "
                           "(+ holdout=0.05 when --holdout is given)")
    make.add_argument("--shard-size", type=int, default=10_000, help="samples per shard (default 10000)")
    make.add_argument("--audio-dtype", default="int16", choices=["int16", "float16"],
                      help="how sound is stored (default int16)")
    make.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    make.set_defaults(func=cmd_make)

    export = wsub.add_parser("export", help="write samples of a cache as PNG/TXT/WAV/MP4 files",
                             description="Write samples of a cache as ordinary files plus a JSONL "
                                         "manifest (one line per sample: file per modality, attributes).")
    export.add_argument("cache", type=Path, help="cache folder made by 'synesthesia world make'")
    export.add_argument("--n", type=int, default=100, help="number of samples to export (default 100)")
    export.add_argument("--out", required=True, type=Path, help="folder to create")
    export.add_argument("--split", default="train", help="split to export (default train)")
    export.add_argument("--video-format", default="mp4", choices=["mp4", "gif"],
                        help="video file format (default mp4)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    export.set_defaults(func=cmd_export)

    show = wsub.add_parser("show", help="draw a labelled grid of samples",
                           description="Draw a labelled grid of samples, one row per level.")
    show.add_argument("--level", type=_levels, default=[1, 2, 3, 4, 5],
                      help="levels to show, comma-separated (default 1,2,3,4,5)")
    show.add_argument("--n", type=int, default=8, help="samples per level (default 8)")
    show.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    show.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    show.add_argument("--out", required=True, type=Path, help="PNG file to write")
    show.set_defaults(func=cmd_show)


__all__ = ["register", "add_world_options", "world_config_from_args", "WorldError"]
