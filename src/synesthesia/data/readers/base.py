"""What every reader produces: a stream of :class:`Sample` (a key, a split, a media reference per
modality, one or more captions), and the shared helpers readers are built from."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from synesthesia.data.errors import DataLayoutError, SampleError
from synesthesia.data.readers.safety import MEDIA_LIMIT, confine

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi")
MEDIA_MODALITIES = ("image", "audio", "video")
# split names as layouts spell them -> the names synesthesia uses
SPLIT_NAMES = {"train": "train", "training": "train", "restval": "train", "development": "train",
               "val": "val", "valid": "val", "validation": "val", "validate": "val", "dev": "val",
               "test": "test", "testing": "test", "evaluation": "test", "eval": "test"}


def modality_of(suffix: str, gif: str = "image") -> str | None:
    """The modality a file suffix holds (``gif`` says where GIFs go: image or video)."""
    s = suffix.lower()
    if s == ".gif":
        return gif
    for name, suffixes in (("image", IMAGE_SUFFIXES), ("audio", AUDIO_SUFFIXES), ("video", VIDEO_SUFFIXES)):
        if s in suffixes:
            return name
    return None


def split_name(value, where: str = "") -> str | None:
    """A layout's split label -> train / val / test (None when absent)."""
    if value is None or value == "":
        return None
    name = SPLIT_NAMES.get(str(value).strip().lower())
    if name is None:
        raise DataLayoutError(f"{where}: split {value!r} unknown; expected one of "
                              f"{', '.join(sorted(SPLIT_NAMES))}")
    return name


@dataclass(frozen=True)
class Media:
    """A reference to one media file: a file on disk, or a member of a tar shard (``path`` is
    the shard, ``offset``/``size`` the member's bytes). ``error`` says why it cannot be used."""

    name: str                      # as shown in messages: path relative to the dataset, or shard:member
    path: Path | None = None
    suffix: str = ""
    offset: int = -1               # tar members only
    size: int = -1
    error: str | None = None

    @property
    def member(self) -> bool:
        return self.offset >= 0


@dataclass
class Sample:
    """One sample of a dataset as a reader describes it, before any media is decoded."""

    key: str
    split: str | None                                    # train / val / test; None: assigned later
    media: dict[str, Media] = field(default_factory=dict)  # image / audio / video (and text files)
    captions: list = field(default_factory=list)         # inline captions (text files come as media["text"])
    origin: str = ""                                     # file:line where the sample is described
    error: str | None = None                             # why the description itself is unusable


@dataclass
class ReaderOptions:
    """How to read a layout (from ``data.*`` settings)."""

    caption_column: str | None = None     # HF folders: the caption column (default: text, caption, ...)
    allow_outside: bool = False           # accept paths leaving the dataset folder
    max_metadata_bytes: int = 512 << 20   # a metadata file larger than this is refused
    max_media_bytes: int = MEDIA_LIMIT    # a media file larger than this is refused


class Reader:
    """Base class: ``root`` is the dataset folder that paths stay inside; :meth:`samples` streams
    the samples; :attr:`metadata_files` are the files the layout was read from; ``notes`` holds
    what was found but not used."""

    format = ""

    def __init__(self, path: Path, options: ReaderOptions | None = None) -> None:
        self.path = Path(path)
        self.options = options or ReaderOptions()
        self.root = self.path if self.path.is_dir() else self.path.parent
        self.notes: list[str] = []

    @property
    def metadata_files(self) -> list[Path]:
        return [self.path] if self.path.is_file() else []

    def samples(self) -> Iterator[Sample]:
        raise NotImplementedError

    def file(self, ref, base: Path | None = None, name: str | None = None) -> Media:
        """A media reference to ``ref`` relative to ``base`` (default: the dataset folder),
        confined to the dataset folder; a bad reference becomes a :class:`Media` with ``error``."""
        base = base or self.root
        try:
            rel_base = base.relative_to(self.root)
        except ValueError:
            rel_base = base
        shown = name or (str(rel_base / str(ref)) if str(rel_base) != "." else str(ref))
        try:
            path = confine(base, ref, self.options.allow_outside)
            if base != self.root:           # base is inside the root; the whole path must be too
                confine(self.root, os.path.relpath(path, self.root), self.options.allow_outside)
        except SampleError as err:
            return Media(shown, None, Path(str(ref)).suffix.lower(), error=err.reason)
        return Media(shown, path, path.suffix.lower())


def nearest(name: str, choices: Iterable[str]) -> str:
    """' (nearest: 'x')' when difflib finds a close name, else ''."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (nearest: {close[0]!r})" if close else ""


def pick_column(columns: Sequence[str], wanted: Sequence[str], where: str, what: str,
                option: str = "") -> str:
    """The first of ``wanted`` present in ``columns``, or a :class:`DataLayoutError` naming the
    file, what was expected, the columns found and the nearest name."""
    for w in wanted:
        if w in columns:
            return w
    hint = f"; choose it with {option}" if option else ""
    raise DataLayoutError(f"{where}: no {what} column; expected {' or '.join(repr(w) for w in wanted)}, "
                          f"found {list(columns)}{nearest(wanted[0], columns)}{hint}")


def require_keys(obj, keys: Sequence[str], where: str, what: str) -> None:
    """``obj`` is a mapping holding ``keys``; else a :class:`DataLayoutError` saying what was found."""
    if not isinstance(obj, dict):
        raise DataLayoutError(f"{where}: {what} must be a JSON object with {list(keys)}; "
                              f"found {type(obj).__name__}")
    for k in keys:
        if k not in obj:
            raise DataLayoutError(f"{where}: {what} has no {k!r}; expected {list(keys)}, found "
                                  f"{sorted(obj)}{nearest(k, obj)}")


def index_files(folder: Path, suffixes: Sequence[str], depth: int = 3) -> dict[str, Path]:
    """Files under ``folder`` (to ``depth`` levels, symlinks not followed) with one of
    ``suffixes``, by stem; for layouts whose metadata names clips by id (AudioCaps, MSR-VTT)."""
    found: dict[str, Path] = {}
    stack = [(folder, 0)]
    while stack:
        here, level = stack.pop()
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False) and level < depth and not e.name.startswith("."):
                stack.append((Path(e.path), level + 1))
            elif Path(e.name).suffix.lower() in suffixes:
                found.setdefault(Path(e.name).stem, Path(e.path))
    return found


def media_folder(root: Path, candidates: Sequence[str], probes: Sequence[str]) -> Path:
    """The first of ``root / candidate`` that holds one of ``probes`` (relative paths of the
    first few samples' files); ``root`` itself when none does."""
    for c in candidates:
        folder = root / c
        if folder.is_dir() and any((folder / p).is_file() for p in probes):
            return folder
    return root
