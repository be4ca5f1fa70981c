"""WebDataset tar shards: members ``<key>.<ext>`` grouped by key (``key.jpg``, ``key.wav``,
``key.mp4``, ``key.txt`` or ``key.json`` with a ``caption``/``captions``/``text`` field).

Read with the standard library's :mod:`tarfile`, not the ``webdataset`` package: a prepare pass
needs each member's offset and size (so workers can read any sample later by a seek, and a
member's size is checked before it is read), only the listed suffixes are ever decoded (the
package's default decoders unpickle ``.pyd``/``.pth`` members, which must never happen to a
user's file) and a path can never be a ``pipe:`` command. Shards must be uncompressed ``.tar``
files, as WebDataset writes them. A shard whose name holds train/val/validation/test gives its
samples that split.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

from synesthesia.data.errors import DataLayoutError
from synesthesia.data.readers.base import SPLIT_NAMES, Media, Reader, Sample, modality_of

CAPTION_SUFFIXES = (".txt", ".json")
_SPLIT_IN_NAME = re.compile(r"(?:^|[-_.])(train|training|val|valid|validation|test)(?:$|[-_.\d])", re.I)

def shard_split(path: Path) -> str | None:

    match = _SPLIT_IN_NAME.search(path.stem)
    return SPLIT_NAMES[match.group(1).lower()] if match else None

def split_member(name: str) -> tuple[str, str]:
    """WebDataset's rule: the key is the path up to the first dot of the file name."""
    folder, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), (f".{ext.lower()}" if dot else "")

class WebDatasetReader(Reader):
    format = "webdataset"

    def __init__(self, path: Path, options=None) -> None:
        path = Path(path)
        super().__init__(path, options)
        self.shards = [path] if path.is_file() else sorted(p for p in path.glob("*.tar") if p.is_file())
        if not self.shards:
            found = sorted(p.name for p in path.glob("*.tar*"))[:5] if path.is_dir() else []
            raise DataLayoutError(f"{path}: no .tar shard; expected WebDataset shards such as "
                                  f"train-000000.tar{f', found {found} (decompress them)' if found else ''}")

    @property
    def metadata_files(self) -> list[Path]:
        return list(self.shards)

    def samples(self) -> Iterator[Sample]:
        for shard in self.shards:
            yield from self._shard(shard)

    def _shard(self, shard: Path) -> Iterator[Sample]:
        try:
            tar = tarfile.open(shard, "r:")
        except tarfile.ReadError as err:
            raise DataLayoutError(f"{shard}: not an uncompressed tar file ({err}); WebDataset shards "
                                  "are plain .tar (decompress .tar.gz shards first)") from None
        split, current, ignored = shard_split(shard), None, 0
        rel = shard.name if shard.parent == self.root else str(shard.relative_to(self.root))
        with tar:
            try:
                for info in tar:
                    key, suffix = split_member(info.name)
                    if current is None or current.key != f"{rel}:{key}":
                        if current is not None:
                            yield current
                        current = Sample(f"{rel}:{key}", split, origin=f"{shard}:{info.name}")
                    tar.members.clear()                 # keep memory flat over long shards
                    ignored += self._member(current, shard, rel, info, suffix)
            except tarfile.TarError as err:
                self.notes.append(f"{shard}: truncated or damaged after {current.key if current else 'the start'} "
                                  f"({err}); the rest of the shard is skipped")
        if current is not None:
            yield current
        if ignored:
            self.notes.append(f"{shard}: {ignored} member(s) with suffixes other than images, sounds, "
                              "videos, .txt and .json ignored")

    def _member(self, sample: Sample, shard: Path, rel: str, info: tarfile.TarInfo, suffix: str) -> int:
        last = "." + suffix.rsplit(".", 1)[-1] if suffix else ""
        modality = "text" if last in CAPTION_SUFFIXES else modality_of(last, gif="video")
        if modality is None:
            return 0 if info.isdir() else 1
        name = f"{rel}:{info.name}"
        if not info.isreg():
            sample.media[modality] = Media(name, None, last, error="tar member is not a regular file "
                                           "(link or device): refused")
        else:
            sample.media[modality] = Media(name, shard, last, offset=info.offset_data, size=info.size)
        return 0
