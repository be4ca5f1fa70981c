"""A dataset's plan: every sample a reader describes, in order, with its split assigned, its
caption files read (bounded) and a fingerprint of the source. Decoding, preparing and
inspecting all start from a plan, so they see the same samples in the same order."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from synesthesia.data.errors import DataLayoutError, SampleError
from synesthesia.data.readers import Reader, ReaderOptions, Sample, open_reader
from synesthesia.data.readers.base import Media
from synesthesia.data.readers.safety import CAPTION_LIMIT, read_bounded, read_caption_file

MEDIA_ORDER = ("image", "text", "audio", "video")
VAL_FRACTION = 0.1          # samples without a split: the last tenth (in the layout's order) is val


@dataclass
class Plan:
    """The samples of a dataset (light references, no media decoded)."""

    format: str
    path: Path
    root: Path
    samples: list[Sample]
    notes: list[str] = field(default_factory=list)
    fingerprint: str = ""

    @property
    def modalities(self) -> tuple[str, ...]:
        found = {m for s in self.samples for m in s.media if m != "text"}
        if any(s.captions or "text" in s.media for s in self.samples):
            found.add("text")
        return tuple(m for m in MEDIA_ORDER if m in found)

    def split(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.split == name]

    @property
    def splits(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.samples:
            out[s.split] = out.get(s.split, 0) + 1
        return out

    def train_captions(self) -> list[str]:
        """Every usable caption of the training split (the text modality's vocabulary comes
        from all of them)."""
        return [c.strip() for s in self.split("train") if s.error is None
                for c in s.captions if isinstance(c, str) and c.strip()]


def assign_splits(samples: list[Sample]) -> None:
    """Samples without a split: train when others have one; else the last tenth goes to val."""
    unsplit = [s for s in samples if s.split is None]
    if not unsplit:
        return
    if len(unsplit) < len(samples):
        for s in unsplit:
            s.split = "train"
        return
    cut = max(1, int(round(len(unsplit) * (1 - VAL_FRACTION)))) if len(unsplit) > 1 else 1
    for k, s in enumerate(unsplit):
        s.split = "train" if k < cut else "val"


def _json_captions(data: bytes, name: str) -> list[str]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SampleError(f"caption JSON is not valid ({err})", name) from None
    if isinstance(doc, dict):
        for key in ("captions", "caption", "text"):
            value = doc.get(key)
            if isinstance(value, str):
                return [value]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return list(value)
        raise SampleError(f"caption JSON has no 'caption', 'captions' or 'text' string; found keys "
                          f"{sorted(doc)[:8]}", name)
    raise SampleError(f"caption JSON must be an object, found {type(doc).__name__}", name)


def read_text_media(media: Media, handles: dict) -> list[str]:
    """The captions in a text file or tar member (``.txt``: the whole text; ``.json``: its
    caption field), read within :data:`CAPTION_LIMIT` bytes."""
    if media.error:
        raise SampleError(media.error, media.name)
    if not media.member:
        if media.suffix == ".json":
            return _json_captions(read_bounded(media.path, CAPTION_LIMIT, "caption file"), media.name)
        return [read_caption_file(media.path)]
    if media.size > CAPTION_LIMIT:
        raise SampleError(f"caption member is {media.size:,} bytes, over the limit of {CAPTION_LIMIT:,}",
                          media.name)
    f = handles.get(media.path)
    if f is None:
        f = handles[media.path] = open(media.path, "rb")
    f.seek(media.offset)
    data = f.read(media.size)
    if media.suffix == ".json":
        return _json_captions(data, media.name)
    try:
        return [data.decode("utf-8").strip()]
    except UnicodeDecodeError:
        raise SampleError("caption member is not UTF-8 text", media.name) from None


def _resolve_text(samples: list[Sample]) -> None:
    handles: dict = {}
    try:
        for s in samples:
            media = s.media.get("text")
            if media is None:
                continue
            try:
                s.captions = [*s.captions, *read_text_media(media, handles)]
                del s.media["text"]
            except SampleError as err:
                s.media["text"] = Media(media.name, None, media.suffix, error=err.reason)
    finally:
        for f in handles.values():
            f.close()


def fingerprint(reader: Reader, samples: list[Sample]) -> str:
    """A hash of what the samples are: keys, splits, captions and each file's name, size and
    modification time (a file changed in place changes the fingerprint)."""
    h = hashlib.sha256(reader.format.encode())
    stats: dict = {}
    for s in samples:
        refs = []
        for m, media in sorted(s.media.items()):
            if media.path is not None and media.path not in stats:
                try:
                    st = os.stat(media.path)
                    stats[media.path] = (st.st_size, st.st_mtime_ns)
                except OSError:
                    stats[media.path] = None
            refs.append([m, media.name, media.offset, media.size, media.error,
                         stats.get(media.path) if media.path else None])
        h.update(json.dumps([s.key, s.split, s.captions, refs, s.error], default=str).encode())
    return h.hexdigest()[:32]


def make_plan(path: str | Path, format: str | None = None, options: ReaderOptions | None = None) -> Plan:
    """Read the layout at ``path`` into a :class:`Plan`."""
    reader = open_reader(path, format, options)
    samples = list(reader.samples())
    if not samples:
        raise DataLayoutError(f"{path}: the {reader.format} layout lists no samples")
    assign_splits(samples)
    _resolve_text(samples)
    return Plan(reader.format, Path(path), reader.root, samples, reader.notes, fingerprint(reader, samples))
