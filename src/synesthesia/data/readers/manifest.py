"""synesthesia's JSONL manifest: one JSON object per line, a path per modality relative to the
manifest's folder, captions inline (``"caption": "..."`` or ``"captions": [...]``) or as a text
file (``"text": "text/0001.txt"``, read when the row has no inline caption), and an optional
``"split"``::

    {"id": "0001", "image": "image/0001.png", "audio": "audio/0001.wav",
     "captions": ["a red star", "a star, red"], "split": "train"}
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from synesthesia.data.errors import DataLayoutError
from synesthesia.data.readers.base import MEDIA_MODALITIES, Reader, Sample, nearest, split_name
from synesthesia.data.readers.tables import read_jsonl

KNOWN = (*MEDIA_MODALITIES, "text", "caption", "captions")


def row_captions(row: dict) -> tuple[list, str | None]:
    """The inline captions of a row and, if their type is wrong, why."""
    caps: list = []
    if "caption" in row:
        caps.append(row["caption"])
    if "captions" in row:
        if not isinstance(row["captions"], list):
            return [], f"'captions' must be a list of strings, found {type(row['captions']).__name__}"
        caps.extend(row["captions"])
    bad = [c for c in caps if not isinstance(c, str)]
    if bad:
        return [], f"captions must be strings, found {type(bad[0]).__name__} {bad[0]!r}"
    return caps, None


class ManifestReader(Reader):
    format = "manifest"

    def __init__(self, path: Path, options=None) -> None:
        path = Path(path)
        if path.is_dir():
            path = path / "manifest.jsonl"
        super().__init__(path, options)
        self.root = path.parent

    def samples(self) -> Iterator[Sample]:
        table = read_jsonl(self.path, self.options.max_metadata_bytes)
        if not table.rows:
            raise DataLayoutError(f"{self.path}: lists no samples; expected one JSON object per line")
        if not any(k in table.columns for k in KNOWN):
            raise DataLayoutError(f"{self.path}: no row names a modality; expected keys among "
                                  f"{list(KNOWN)}, found {table.columns}{nearest('image', table.columns)}")
        for i, row in enumerate(table.rows):
            where = table.where(i)
            captions, error = row_captions(row)
            sample = Sample(str(row.get("id", i)), split_name(row.get("split"), where),
                            captions=captions, origin=where, error=error)
            for m in MEDIA_MODALITIES:
                if m in row:
                    sample.media[m] = self.file(row[m])
            if "text" in row and not captions:          # a caption file, unless the row has them inline
                sample.media["text"] = self.file(row["text"])
            yield sample
