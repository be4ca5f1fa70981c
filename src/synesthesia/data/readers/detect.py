"""Which layout a path holds, from file names and headers (nothing big is read)."""

from __future__ import annotations

import json
from pathlib import Path

from synesthesia.data.errors import DataLayoutError
from synesthesia.data.readers.audio_captions import csv_header, is_audiocaps, is_clotho
from synesthesia.data.readers.coco import caption_files
from synesthesia.data.readers.flickr import caption_file
from synesthesia.data.readers.hf_folder import METADATA_NAMES, metadata_files
from synesthesia.data.readers.msrvtt import looks_like_msrvtt

PREPARED_FILE = "prepared.json"
# every layout data.format accepts, with what marks it
FORMATS = {
    "prepared": f"a folder made by 'synesthesia data prepare' ({PREPARED_FILE})",
    "world": "a world cache made by 'synesthesia world make' (manifest.json)",
    "manifest": "synesthesia's JSONL manifest (manifest.jsonl or any .jsonl)",
    "hf_folder": f"a Hugging Face image/audio/video folder ({', '.join(METADATA_NAMES)})",
    "coco": "COCO captions (annotations/captions_*.json + image folder)",
    "karpathy": "Karpathy splits (dataset_coco.json, dataset_flickr30k.json)",
    "flickr": "Flickr30k results.csv or a .token file",
    "audiocaps": "AudioCaps CSV files (audiocap_id, youtube_id, start_time, caption)",
    "clotho": "Clotho CSV files (file_name, caption_1 ... caption_5)",
    "msrvtt": "MSR-VTT JSON (videos, sentences)",
    "webdataset": "WebDataset .tar shards",
}


def _is_world_cache(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        head = json.loads(path.read_text()[: 1 << 20]) if path.stat().st_size < (1 << 20) else {}
    except (OSError, ValueError):
        return False
    return isinstance(head, dict) and "world" in head and "splits" in head


def _detect_file(path: Path) -> str | None:
    name, suffix = path.name.lower(), path.suffix.lower()
    if name == PREPARED_FILE:
        return "prepared"
    if name == "manifest.json" and _is_world_cache(path):
        return "world"
    if name in METADATA_NAMES:
        return "hf_folder"
    if suffix == ".jsonl":
        return "manifest"
    if suffix == ".tar":
        return "webdataset"
    if name == "results.csv" or name.endswith((".token", ".token.txt")):
        return "flickr"
    if suffix == ".csv":
        header = csv_header(path)
        return "audiocaps" if is_audiocaps(header) else "clotho" if is_clotho(header) else None
    if suffix == ".json":
        if name.startswith("captions_"):
            return "coco"
        if name.startswith("dataset_"):
            return "karpathy"
        if looks_like_msrvtt(path):
            return "msrvtt"
    return None


def _detect_folder(path: Path) -> str | None:
    if (path / PREPARED_FILE).is_file():
        return "prepared"
    if (path / "manifest.json").is_file() and _is_world_cache(path / "manifest.json"):
        return "world"
    if (path / "manifest.jsonl").is_file():
        return "manifest"
    if metadata_files(path):
        return "hf_folder"
    if caption_files(path):
        return "coco"
    if list(path.glob("dataset_*.json")):
        return "karpathy"
    if caption_file(path) is not None:
        return "flickr"
    headers = [csv_header(p) for p in sorted(path.glob("*.csv"))]
    if any(is_audiocaps(h) for h in headers):
        return "audiocaps"
    if any(is_clotho(h) for h in headers):
        return "clotho"
    if any(looks_like_msrvtt(p) for p in sorted(path.glob("*.json"))):
        return "msrvtt"
    if list(path.glob("*.tar")):
        return "webdataset"
    return None


def detect_format(path: str | Path) -> str:
    """The layout at ``path``, or a :class:`DataLayoutError` listing what was looked for and found."""
    path = Path(path)
    if not path.exists():
        raise DataLayoutError(f"{path} does not exist")
    if not path.is_file() and not path.is_dir():
        raise DataLayoutError(f"{path} is not a regular file or a folder (a FIFO, socket or device): refused")
    found = _detect_file(path) if path.is_file() else _detect_folder(path)
    if found:
        return found
    listing = ([path.name] if not path.is_dir() else
               sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())[:12])
    layouts = "\n".join(f"  {k}: {v}" for k, v in FORMATS.items())
    raise DataLayoutError(f"{path}: no known dataset layout found (it holds {listing}); expected one of\n"
                          f"{layouts}\nor force one with data.format (--format)")
