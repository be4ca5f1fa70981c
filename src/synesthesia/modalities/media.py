"""What every media reader shares: checking a path, telling a file's format from its first bytes,
and collecting the adaptations made to a batch of inputs into one warning per kind.

Readers never let a decoder's exception out: a file that is missing, empty, truncated or of
another kind gives a :class:`~synesthesia.modalities.base.ModalityError` naming the file, what was
expected and what was found.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

from synesthesia.modalities.base import InputAdjusted, ModalityError

# magic bytes -> format (first match wins); RIFF and ISO media files are told apart below
_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "PNG image"), (b"\xff\xd8\xff", "JPEG image"), (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"), (b"BM", "BMP image"), (b"II*\x00", "TIFF image"), (b"MM\x00*", "TIFF image"),
    (b"fLaC", "FLAC sound"), (b"OggS", "OGG file"), (b"ID3", "MP3 sound"),
    (b"\x1aE\xdf\xa3", "Matroska/WebM video"), (b"%PDF", "PDF document"), (b"PK\x03\x04", "ZIP archive"),
]
_RIFF = {b"WAVE": "WAV sound", b"WEBP": "WebP image", b"AVI ": "AVI video"}
IMAGE_FORMATS = {"PNG image", "JPEG image", "BMP image", "TIFF image", "WebP image"}
SOUND_FORMATS = {"WAV sound", "FLAC sound", "OGG file", "MP3 sound", "AIFF sound"}
VIDEO_FORMATS = {"GIF", "MP4/MOV video", "Matroska/WebM video", "AVI video"}


def sniff(path: Path) -> str | None:
    """The format a file's first bytes announce ("PNG image", "WAV sound", ...), or None."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[4:8] == b"ftyp":
        return "MP4/MOV video"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF sound"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[:3] != b"\xff\xd8\xff":
        return "MP3 sound"
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


def check_file(path: str | Path, kind: str, refuse: set[str] = frozenset()) -> tuple[Path, str | None]:
    """``path`` as a Path and its sniffed format, after checking that it is a non-empty file and
    not of a format in ``refuse`` (e.g. a PNG given as a sound)."""
    path = Path(path)
    if not path.is_file():
        raise ModalityError(f"{kind} file {path} does not exist" if not path.exists()
                            else f"{kind} path {path} is not a file")
    if path.stat().st_size == 0:
        raise ModalityError(f"{kind} file {path} is empty (0 bytes)")
    found = sniff(path)
    if found in refuse:
        raise ModalityError(f"{path} is a {found}, not a {kind} file; give it as the right modality")
    return path, found


def unreadable(path: Path, kind: str, found: str | None, err: BaseException) -> ModalityError:
    """The error for a file the decoder could not read (truncated, corrupt, another format)."""
    what = f"a {found}" if found else "of an unknown format"
    detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
    return ModalityError(f"cannot read {kind} file {path} ({what}): {detail}; is it truncated or "
                         "of another kind?")


class Notes:
    """Adaptations made to a batch of inputs: each kind is counted once per item (a video's frames
    are one item) and warned once for the whole batch, with an example."""

    def __init__(self, what: str, total: int) -> None:
        self.what, self.total = what, total
        self.counts: dict[str, int] = {}
        self.examples: dict[str, str] = {}
        self._item: set[str] = set()

    def next_item(self) -> None:
        self._item = set()

    def add(self, kind: str, example: str = "") -> None:
        if kind not in self._item:
            self._item.add(kind)
            self.counts[kind] = self.counts.get(kind, 0) + 1
        if example:
            self.examples.setdefault(kind, example)

    def warn(self, stacklevel: int = 4) -> None:
        for kind, n in self.counts.items():
            example = f" (e.g. {self.examples[kind]})" if kind in self.examples else ""
            count = f"{n} of {self.total} {self.what}s" if self.total > 1 else f"{self.what}"
            warnings.warn(f"{count}: {kind}{example}", InputAdjusted, stacklevel=stacklevel)


@contextlib.contextmanager
def batch_notes(what: str, total: int) -> Iterator[Notes]:
    """Collect the adaptations of one batch; warn once per kind when it was encoded."""
    notes = Notes(what, total)
    yield notes
    notes.warn(stacklevel=5)
