"""(partial caption, complete caption) pairs that a caption expander learns from: the world's own
(the same sample's caption rendered with omissions and without) or a JSONL file of users'."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from synesthesia.data.sources import DataError, WorldSource
from synesthesia.errors import shown
from synesthesia.world import WorldConfig

# omission probabilities of the world's pairs; 0 teaches the expander to leave complete captions alone
WORLD_OMISSIONS = (0.0, 0.25, 0.5, 0.75)
MAX_PAIRS_BYTES = 256 << 20


def world_pairs(world: WorldConfig | dict, n: int, split: str = "train",
                omissions: Sequence[float] = WORLD_OMISSIONS) -> tuple[list[str], list[str]]:
    """``n`` (partial, complete) caption pairs from a world: the same samples' captions rendered
    with each attribute left out with probability p (cycling through ``omissions``) and without."""
    base = world.to_dict() if isinstance(world, WorldConfig) else dict(world or {})
    partial, complete = [], []
    per = math.ceil(n / len(omissions))
    for k, p in enumerate(omissions):
        for out, omit in ((partial, p), (complete, 0.0)):
            source = WorldSource.from_config({**base, "partial_caption_p": omit})
            out += source.load(split, per, ["text"], start=k * per)["text"]
    return partial[:n], complete[:n]


def file_pairs(path: str | Path) -> tuple[list[str], list[str]]:
    """Pairs from a JSONL file of ``{"partial": "...", "caption": "..."}`` lines."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no pairs file at {path}; give a JSONL file of "
                        '{"partial": "...", "caption": "..."} lines')
    if path.stat().st_size > MAX_PAIRS_BYTES:
        raise DataError(f"{path} is larger than {MAX_PAIRS_BYTES >> 20} MB; split it or sample from it")
    partial, complete = [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text") from None
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            partial.append(str(row["partial"]))
            complete.append(str(row["caption"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise DataError(f"{path}:{i} is not a JSON object with \"partial\" and \"caption\" "
                            f"strings: {shown(line)}") from None
    if len(partial) < 2:
        raise DataError(f"{path} holds {len(partial)} pair(s); give at least 2")
    return partial, complete
