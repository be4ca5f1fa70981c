"""Accounting for bad samples: ``rejected.jsonl`` (one line per skipped sample or caption, with
its path and reason) and the ``data.max_rejected`` limit."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from synesthesia.data.errors import TooManyRejected
from synesthesia.io import write_text_atomic

REJECTED_FILE = "rejected.jsonl"


def write_rejected(path: str | Path, entries: Sequence[dict]) -> Path:
    """Write the rejections (samples, then dropped captions) as JSON lines, atomically."""
    text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
    return write_text_atomic(path, text)


def check_limit(rejected: Sequence[dict], total: int, max_rejected: float, where: str,
                written: str | Path | None = None) -> None:
    """Raise :class:`TooManyRejected` when more than ``max_rejected`` of ``total`` samples were bad,
    naming the first few and why."""
    if total <= 0 or len(rejected) <= max_rejected * total:
        return
    first = "\n".join(f"  {e['path']}: {e['reason']}" for e in rejected[:5])
    more = f"\n  ... and {len(rejected) - 5} more" if len(rejected) > 5 else ""
    listing = f" (all of them in {written})" if written else ""
    raise TooManyRejected(
        f"{where}: {len(rejected)} of {total} samples are bad ({len(rejected) / total:.1%}), more than "
        f"data.max_rejected = {max_rejected:.1%} allows{listing}:\n{first}{more}\n"
        "fix or remove these files, or raise data.max_rejected (--max-rejected) to skip them")


def summary_line(n_ok: int, rejected: Sequence[dict], dropped: Sequence[dict]) -> str:
    line = f"{n_ok} samples kept, {len(rejected)} rejected"
    if dropped:
        line += f", {len(dropped)} caption(s) dropped"
    return line
