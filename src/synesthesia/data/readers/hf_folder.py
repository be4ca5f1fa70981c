"""Hugging Face folder layouts (imagefolder, audiofolder, videofolder): a ``metadata.jsonl``,
``metadata.csv`` or ``metadata.parquet`` in the dataset folder or in each split folder
(``train/``, ``validation/``, ``test/``), a ``file_name`` (or ``<name>_file_name``) column per
file, relative to the metadata file, and a caption column (``data.caption_column``; by default
the first of ``text``, ``caption``, ``captions``, ...), holding a string or a list of strings::

    train/metadata.csv      file_name,text
                            0001.png,a red star on a blue background
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from synesthesia.data.errors import DataLayoutError
from synesthesia.data.readers.base import (
    MEDIA_MODALITIES,
    SPLIT_NAMES,
    Reader,
    Sample,
    modality_of,
    nearest,
    pick_column,
    split_name,
)
from synesthesia.data.readers.tables import Table, read_table

METADATA_NAMES = ("metadata.jsonl", "metadata.csv", "metadata.parquet")
CAPTION_COLUMNS = ("text", "caption", "captions", "sentence", "sentences", "description", "prompt")


def metadata_files(root: Path) -> list[Path]:
    """The metadata files of a folder layout: at the top, then in split sub-folders."""
    found = [root / n for n in METADATA_NAMES if (root / n).is_file()]
    if root.is_dir():
        for sub in sorted(p for p in root.iterdir() if p.is_dir() and p.name.lower() in SPLIT_NAMES):
            found += [sub / n for n in METADATA_NAMES if (sub / n).is_file()]
    return found


class HFFolderReader(Reader):
    format = "hf_folder"

    def __init__(self, path: Path, options=None) -> None:
        path = Path(path)
        super().__init__(path.parent if path.name in METADATA_NAMES else path, options)
        self.named_file = path.is_file()
        self.files = [path] if path.is_file() else metadata_files(path)
        if not self.files:
            raise DataLayoutError(f"{path}: no metadata file; expected one of {', '.join(METADATA_NAMES)} "
                                  "in the folder or in its train/, validation/, test/ folders")

    @property
    def metadata_files(self) -> list[Path]:
        return list(self.files)

    def _caption_column(self, table: Table) -> str | None:
        option = self.options.caption_column
        if option:
            if option not in table.columns:
                raise DataLayoutError(f"{table.path}: no caption column {option!r} (data.caption_column); "
                                      f"found columns {table.columns}{nearest(option, table.columns)}")
            return option
        found = [c for c in CAPTION_COLUMNS if c in table.columns]
        if not found:
            self.notes.append(f"{table.path}: no caption column among {list(CAPTION_COLUMNS)} "
                              f"(found {table.columns}); set data.caption_column to use one")
            return None
        return found[0]

    def _file_columns(self, table: Table) -> dict[str, str | None]:
        """column -> modality (None: decided by each file's suffix)."""
        cols = {c: None for c in table.columns if c == "file_name"}
        for c in table.columns:
            if c.endswith("_file_name"):
                name = c[: -len("_file_name")]
                cols[c] = name if name in MEDIA_MODALITIES else None
        if not cols:
            pick_column(table.columns, ["file_name", "image_file_name", "audio_file_name"], str(table.path),
                        "file")
        return cols

    def samples(self) -> Iterator[Sample]:
        for path in self.files:
            table = read_table(path, self.options.max_metadata_bytes)
            if not table.rows:
                self.notes.append(f"{path}: no rows")
                continue
            caption_col, file_cols = self._caption_column(table), self._file_columns(table)
            in_split_folder = path.parent != self.root or self.named_file
            folder_split = SPLIT_NAMES.get(path.parent.name.lower()) if in_split_folder else None
            for i, row in enumerate(table.rows):
                yield self._sample(table, i, row, caption_col, file_cols, folder_split)

    def _sample(self, table: Table, i: int, row: dict, caption_col: str | None,
                file_cols: dict[str, str | None], folder_split: str | None) -> Sample:
        where = table.where(i)
        first = next((row[c] for c in file_cols if isinstance(row.get(c), str)), None)
        split = folder_split
        if split is None and "split" in row:
            split = split_name(row["split"], where)
        if split is None and first and "/" in first:
            split = SPLIT_NAMES.get(first.split("/", 1)[0].lower())
        rel = table.path.parent.relative_to(self.root)
        key = str(rel / first) if first else f"{table.path.name}:{table.lines[i]}"
        sample = Sample(key, split, origin=where)
        for col, modality in file_cols.items():
            ref = row.get(col)
            if ref is None or ref == "":
                continue
            m = modality or modality_of(Path(str(ref)).suffix)
            if m is None:
                sample.error = (f"{col} {ref!r}: suffix {Path(str(ref)).suffix!r} is not an image, sound "
                                "or video file")
                continue
            sample.media[m] = self.file(ref, base=table.path.parent)
        if caption_col is not None:
            value = row.get(caption_col)
            if isinstance(value, str):
                sample.captions = [value]
            elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                sample.captions = list(value)
            elif value is not None:
                sample.error = f"caption column {caption_col!r} holds {type(value).__name__}, not text"
        return sample
