"""Sound-caption datasets.

AudioCaps: ``train.csv``, ``val.csv``, ``test.csv`` with ``audiocap_id, youtube_id, start_time,
caption`` (one row per caption; the clips are the user's own local copies, found under the
folder by name: ``<youtube_id>_<start_time>``, ``Y<youtube_id>_<start>.000_<end>.000``,
``<youtube_id>`` or ``<audiocap_id>``, as .wav/.flac/.ogg/.mp3).

Clotho: ``clotho_captions_<development|validation|evaluation>.csv`` with ``file_name,
caption_1 … caption_5``, the clips in ``<development|validation|evaluation>/`` (or
``clotho_audio_<split>/``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from synesthesia.data.errors import DataLayoutError
from synesthesia.data.readers.base import (
    AUDIO_SUFFIXES,
    Media,
    Reader,
    Sample,
    index_files,
    media_folder,
    pick_column,
    split_name,
)
from synesthesia.data.readers.tables import Table, read_csv

AUDIOCAPS_COLUMNS = ["audiocap_id", "youtube_id", "start_time", "caption"]


def csv_header(path: Path) -> list[str]:
    """The header of a CSV without reading the whole file (regular files only)."""
    if not path.is_file():
        return []
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            return [h.strip() for h in f.readline(4096).split(",")]
    except OSError:
        return []


def _csvs(path: Path, test) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.glob("*.csv") if test(csv_header(p)))


def is_audiocaps(header: list[str]) -> bool:
    return "audiocap_id" in header and "youtube_id" in header


def is_clotho(header: list[str]) -> bool:
    return "file_name" in header and "caption_1" in header


class _CsvReader(Reader):
    kind = ""

    def __init__(self, path: Path, options=None) -> None:
        path = Path(path)
        super().__init__(path, options)
        self.files = _csvs(path, self.matches)
        if not self.files:
            raise DataLayoutError(f"{path}: no {self.kind} CSV file found; expected {self.expected}")

    matches = staticmethod(lambda header: False)
    expected = ""

    @property
    def metadata_files(self) -> list[Path]:
        return list(self.files)

    def _split(self, path: Path) -> str | None:
        tag = path.stem.rsplit("_", 1)[-1].lower()
        try:
            return split_name(tag, str(path))
        except DataLayoutError:
            return None


class AudioCapsReader(_CsvReader):
    format = "audiocaps"
    kind = "AudioCaps"
    expected = "train.csv / val.csv / test.csv with columns " + ", ".join(AUDIOCAPS_COLUMNS)
    matches = staticmethod(is_audiocaps)

    def samples(self) -> Iterator[Sample]:
        clips = index_files(self.root, AUDIO_SUFFIXES)
        if not clips:
            self.notes.append(f"{self.root}: no sound files found (AudioCaps clips must be local)")
        for path in self.files:
            table = read_csv(path, self.options.max_metadata_bytes)
            for col in AUDIOCAPS_COLUMNS:
                pick_column(table.columns, [col], str(path), "AudioCaps")
            yield from self._groups(table, self._split(path), clips)

    def _groups(self, table: Table, split: str | None, clips: dict[str, Path]) -> Iterator[Sample]:
        groups: dict[str, Sample] = {}
        for i, row in enumerate(table.rows):
            yt, start = row["youtube_id"] or "", row["start_time"] or ""
            key = f"{yt}_{start}"
            if key not in groups:
                groups[key] = Sample(key, split, origin=table.where(i))
                groups[key].media["audio"] = self._clip(yt, start, row["audiocap_id"] or "", clips)
            groups[key].captions.append(row["caption"] or "")
        yield from groups.values()

    def _clip(self, yt: str, start: str, acid: str, clips: dict[str, Path]):
        names = [f"{yt}_{start}", f"Y{yt}_{start}", yt, f"Y{yt}", acid]
        try:
            s = float(start)
            names[2:2] = [f"{yt}_{int(s)}", f"Y{yt}_{s:.3f}_{s + 10:.3f}", f"{yt}_{s:.3f}_{s + 10:.3f}"]
        except ValueError:
            pass
        for name in names:
            if name in clips:
                return self.file(os.path.relpath(clips[name], self.root))
        return Media(f"{yt} at {start} s", None, error=f"no local clip for youtube_id {yt!r} "
                     f"(looked for {', '.join(names[:3])} ... with {'/'.join(AUDIO_SUFFIXES)} under {self.root})")


class ClothoReader(_CsvReader):
    format = "clotho"
    kind = "Clotho"
    expected = "clotho_captions_<split>.csv with columns file_name, caption_1 ... caption_5"
    matches = staticmethod(is_clotho)

    def samples(self) -> Iterator[Sample]:
        for path in self.files:
            table = read_csv(path, self.options.max_metadata_bytes)
            pick_column(table.columns, ["file_name"], str(path), "file")
            caption_cols = [c for c in table.columns if c.startswith("caption_")]
            if not caption_cols:
                pick_column(table.columns, ["caption_1"], str(path), "caption")
            tag = path.stem.rsplit("_", 1)[-1]
            folder = media_folder(self.root, [tag, f"clotho_audio_{tag}", f"audio/{tag}", "audio", ""],
                                  [r["file_name"] for r in table.rows[:20] if r.get("file_name")])
            for i, row in enumerate(table.rows):
                name = row["file_name"] or ""
                yield Sample(name, self._split(path), {"audio": self.file(name, folder)},
                             [row[c] or "" for c in caption_cols if row.get(c) is not None], table.where(i))
