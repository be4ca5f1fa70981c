"""Export world samples as ordinary files plus a JSONL manifest.

Each manifest line describes one sample::

    {"id": "000000", "image": "image/000000.png", "text": "text/000000.txt",
     "audio": "audio/000000.wav", "video": "video/000000.mp4",
     "caption": "a big red star ...", "attributes": {"shape": "star", ...}}

Paths are relative to the manifest's folder. This is the same manifest format that
``synesthesia`` reads for users' own data.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from synesthesia.io import atomic_dir, write_text_atomic
from synesthesia.modalities.files import write_gif, write_mp4, write_png, write_wav
from synesthesia.world.attributes import ATTRIBUTES, WorldError
from synesthesia.world.cache import WorldCache

EXTENSIONS = {"image": "png", "text": "txt", "audio": "wav"}

def export_files(cache: str | Path, out: str | Path, n: int = 100, split: str = "train",
                 video_format: str = "mp4", overwrite: bool = False) -> Path:
    """Write the first ``n`` samples of ``split`` of ``cache`` into ``out``; return the manifest path."""

    data = WorldCache(cache)
    available = data.splits.get(split, 0)
    if n <= 0 or n > available:
        raise WorldError(f"cannot export {n} samples: split {split!r} of {cache} has {available}")
    cfg = data.config
    batch = data.get(split, np.arange(n))
    ext = {**EXTENSIONS, "video": video_format}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for m in cfg.modalities:
            (tmp / m).mkdir()
        lines = []
        for i in range(n):
            sid = f"{i:06d}"
            row: dict = {"id": sid}
            for m in cfg.modalities:
                rel = f"{m}/{sid}.{ext[m]}"
                row[m] = rel
                target = tmp / rel
                if m == "image":
                    write_png(batch["image"][i], target)
                elif m == "text":
                    write_text_atomic(target, batch["text"][i] + "\n")
                    row["caption"] = batch["text"][i]
                elif m == "audio":
                    write_wav(batch["audio"][i], cfg.sample_rate, target)
                elif m == "video":
                    writer = write_mp4 if video_format == "mp4" else write_gif
                    writer(batch["video"][i], target)
            row["attributes"] = {a: ATTRIBUTES[a][int(batch["codes"][a][i])] for a in cfg.varied}
            lines.append(json.dumps(row))
        write_text_atomic(tmp / "manifest.jsonl", "\n".join(lines) + "\n")
        write_text_atomic(tmp / "world.json", json.dumps(
            {"world": cfg.to_dict(), "fingerprint": data.fingerprint, "split": split}, indent=2))
    return Path(out) / "manifest.jsonl"
