"""``synesthesia data inspect PATH`` and ``synesthesia data prepare SOURCE --out DIR``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _options(args: argparse.Namespace):
    from synesthesia.data.readers import ReaderOptions

    return ReaderOptions(caption_column=args.caption_column, allow_outside=args.allow_outside,
                         max_metadata_bytes=int(args.max_metadata_mb * (1 << 20)))


def _modality_settings(args: argparse.Namespace) -> dict[str, dict]:
    """Per-modality settings from the size/rate options and ``--set m.key=value``."""
    import yaml

    settings: dict[str, dict] = {"image": {"size": args.image_size}, "audio": {"sample_rate": args.sample_rate}}
    if args.seconds is not None:
        settings["audio"]["seconds"] = args.seconds
    if args.video_size is not None:
        settings.setdefault("video", {})["size"] = args.video_size
    if args.frames is not None:
        settings.setdefault("video", {})["frames"] = args.frames
    for item in args.set:
        key, eq, value = item.partition("=")
        modality, dot, name = key.strip().partition(".")
        if not eq or not dot:
            raise SystemExit(f"synesthesia: error: --set takes MODALITY.KEY=VALUE (e.g. text.max_len=40); got {item!r}")
        settings.setdefault(modality, {})[name] = yaml.safe_load(value)
    return settings


def cmd_inspect(args: argparse.Namespace) -> int:
    from synesthesia.data.inspect import format_report, inspect_plan
    from synesthesia.data.plan import make_plan

    plan = make_plan(args.path, args.format, _options(args))
    report = inspect_plan(plan, sample_files=args.sample_files, examples=args.examples)
    print(json.dumps(report, indent=1, default=str) if args.json else format_report(report))
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from synesthesia.data.prepare import prepare

    if args.workers < 1 or args.shard_size < 1:
        raise SystemExit("synesthesia: error: --workers and --shard-size must be at least 1")
    names = [m.strip() for m in args.modalities.split(",")] if args.modalities else None
    out = prepare(args.source, args.out, format=args.format, options=_options(args),
                  modalities=_modality_settings(args), names=names, shard_size=args.shard_size,
                  workers=args.workers, max_rejected=args.max_rejected, progress=not args.no_progress,
                  log=lambda line: print(line, file=sys.stderr, flush=True))
    manifest = json.loads((out / "prepared.json").read_text())
    c = manifest["counts"]
    splits = ", ".join(f"{k} {v['n']}" for k, v in manifest["splits"].items())
    print(f"prepared {c['kept']} of {c['samples']} samples into {out} ({splits}); "
          f"{c['rejected']} rejected, {c['captions_dropped']} caption(s) dropped"
          + (f" (see {out / 'rejected.jsonl'})" if c["rejected"] or c["captions_dropped"] else ""))
    print(f"train on it with --set data.path={out.resolve()}")
    return 0


def _add_reading(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default=None, help="force a layout instead of detecting it (coco, karpathy, "
                   "flickr, hf_folder, audiocaps, clotho, msrvtt, webdataset, manifest)")
    p.add_argument("--caption-column", default=None, help="HF folders: the metadata column holding captions")
    p.add_argument("--allow-outside", action="store_true",
                   help="accept paths in metadata that leave the dataset folder (refused by default)")
    p.add_argument("--max-metadata-mb", type=float, default=512.0,
                   help="refuse metadata files larger than this (default 512)")


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="inspect and prepare your own datasets",
                          description="Read datasets in the layouts you already have (COCO, Karpathy "
                                      "splits, Flickr30k, Hugging Face folders, AudioCaps, Clotho, MSR-VTT, "
                                      "WebDataset shards, a JSONL manifest).")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")

    i = dsub.add_parser("inspect", help="print what a dataset holds as synesthesia reads it",
                        description="Print the layout found, splits, counts per modality, captions per "
                                    "sample, media sizes and rates (from headers of a sample of files), "
                                    "a few examples, and what could not be read.")
    i.add_argument("path", type=Path, help="dataset folder or metadata file")
    _add_reading(i)
    i.add_argument("--sample-files", type=int, default=50, help="files per modality whose headers are read")
    i.add_argument("--examples", type=int, default=3, help="examples shown (default 3)")
    i.add_argument("--json", action="store_true", help="print the report as JSON")
    i.set_defaults(func=cmd_inspect)

    p = dsub.add_parser("prepare", help="decode a dataset once into memory-mapped shards",
                        description="Decode every sample once through the modality codecs into "
                                    "memory-mapped shards that training reads without loading them. "
                                    "Resumable: run the same command again after an interruption.")
    p.add_argument("source", type=Path, help="dataset folder or metadata file, in any layout 'data inspect' reads")
    p.add_argument("--out", type=Path, required=True, help="prepared folder to create")
    _add_reading(p)
    p.add_argument("--image-size", type=int, default=64, help="image side in pixels (default 64)")
    p.add_argument("--sample-rate", type=int, default=16000, help="sound sample rate in Hz (default 16000)")
    p.add_argument("--seconds", type=float, default=None, help="sound clip length in seconds (default 1)")
    p.add_argument("--video-size", type=int, default=None, help="video frame side in pixels (default 32)")
    p.add_argument("--frames", type=int, default=None, help="video frames per clip (default 8)")
    p.add_argument("--set", action="append", default=[], metavar="MODALITY.KEY=VALUE",
                   help="another modality setting, e.g. --set audio.n_mels=80 --set text.max_len=40")
    p.add_argument("--modalities", default=None, help="comma-separated subset, e.g. image,text")
    p.add_argument("--workers", type=int, default=1, help="decoding processes (default 1)")
    p.add_argument("--shard-size", type=int, default=1024, help="samples per shard (default 1024)")
    p.add_argument("--max-rejected", type=float, default=0.01,
                   help="fail when more than this fraction of samples is bad (default 0.01)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_prepare)
