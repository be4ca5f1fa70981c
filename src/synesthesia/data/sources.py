"""Data sources: the procedural world, a world cache folder, or a JSONL manifest of files.

A source knows which modalities it has and their raw sizes, and loads a split as raw arrays
that :func:`synesthesia.data.store.encode_world_arrays` (world) or the modality codecs
(manifest) turn into stored tensors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from synesthesia.data.errors import DataError, SampleError
from synesthesia.data.readers.safety import CAPTION_LIMIT, MEDIA_LIMIT, check_regular, confine, read_caption_file
from synesthesia.data.store import TensorDataset, compact, encode_world_arrays
from synesthesia.modalities.base import Modality
from synesthesia.world import WorldConfig
from synesthesia.world.cache import WorldCache
from synesthesia.world.world import ShapesWorld, codes_matrix


@dataclass
class WorldSource:
    """The shapes world rendered on the fly (``cache=None``) or read from a cache folder."""

    config: WorldConfig
    cache: WorldCache | None = None

    @classmethod
    def from_config(cls, world: Mapping | None = None, cache: str | None = None) -> WorldSource:
        if cache:
            c = WorldCache(cache)
            return cls(c.config, c)
        return cls(WorldConfig.from_dict(world or {}))

    @property
    def modalities(self) -> tuple[str, ...]:
        return self.config.modalities

    def size(self, split: str) -> int | None:
        return None if self.cache is None else self.cache.splits.get(split, 0)

    def load(self, split: str, n: int, modalities: Sequence[str], start: int = 0) -> dict:
        """Raw arrays (``ShapesWorld.render`` layout) of samples ``start .. start+n``."""
        idx = np.arange(start, start + n)
        if self.cache is not None:
            have = self.cache.splits.get(split, 0)
            if start + n > have:
                raise DataError(f"cache {self.cache.path} has {have} {split} samples, {start + n} asked; "
                                "lower data.n_train/n_val or build a bigger cache")
            return self.cache.get(split, idx, modalities)
        parts = [b for _, b in ShapesWorld(self.config).render_chunks(split, n, 2048, modalities, start)]
        out: dict = {"codes": {a: np.concatenate([p["codes"][a] for p in parts]) for a in parts[0]["codes"]}}
        for m in modalities:
            out[m] = (sum((p[m] for p in parts), []) if m == "text"
                      else np.concatenate([p[m] for p in parts]))
        return out

    def dataset(self, split: str, n: int, modalities: Mapping[str, Modality],
                missing_p: float = 0.0) -> TensorDataset:
        arrays = self.load(split, n, list(modalities))
        stored = encode_world_arrays(arrays, modalities, self.config.sample_rate)
        codes = torch.from_numpy(codes_matrix(arrays["codes"]).astype(np.int64))
        return TensorDataset(stored, codes=codes, missing_p=missing_p)

    def captions(self, split: str, n: int) -> list[str]:
        return self.load(split, n, ["text"])["text"]


@dataclass
class ManifestSource:
    """Users' own files listed in a JSONL manifest (the format ``synesthesia world export``
    writes): one JSON object per line with a path per modality (relative to the manifest) and
    optionally ``caption`` text inline. A sample may lack some modalities."""

    path: Path
    rows: list[dict]

    @classmethod
    def from_path(cls, path: str | Path) -> ManifestSource:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"manifest {path} does not exist")
        rows = []
        for k, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{k} is not valid JSON: {err}") from err
            if not isinstance(row, dict):
                raise DataError(f"{path}:{k} must be a JSON object")
            rows.append(row)
        if not rows:
            raise DataError(f"manifest {path} lists no samples")
        return cls(path, rows)

    @property
    def modalities(self) -> tuple[str, ...]:
        found = {m for r in self.rows for m in ("image", "text", "audio", "video") if m in r}
        if any("caption" in r for r in self.rows):
            found.add("text")
        return tuple(m for m in ("image", "text", "audio", "video") if m in found)

    def split_rows(self, split: str) -> list[dict]:
        """Rows of a split: a row's ``split`` field if present, else a 90/10 train/val cut."""
        if any("split" in r for r in self.rows):
            return [r for r in self.rows if r.get("split", "train") == split]
        cut = max(1, int(len(self.rows) * 0.9))
        return self.rows[:cut] if split == "train" else self.rows[cut:]

    def _file(self, row: dict, m: str) -> Path:
        """The row's file for ``m``, kept inside the manifest's folder and checked to be a
        regular file (see :mod:`synesthesia.data.readers.safety`)."""
        try:
            path = confine(self.path.parent, row[m])
            check_regular(path, CAPTION_LIMIT if m == "text" else MEDIA_LIMIT, f"{m} file")
        except SampleError as err:
            raise DataError(f"{self.path}: {err.path}: {err.reason}") from None
        return path

    def _raw(self, row: dict, m: str, modality: Modality):
        if m == "text" and "caption" in row:
            return row["caption"]
        if m == "text":
            return self._caption_file(row)
        return modality.read(self._file(row, m))

    def _caption_file(self, row: dict) -> str:
        try:
            return read_caption_file(self._file(row, "text"))
        except SampleError as err:
            raise DataError(f"{self.path}: {err.path}: {err.reason}") from None

    def dataset(self, split: str, n: int, modalities: Mapping[str, Modality],
                missing_p: float = 0.0) -> TensorDataset:
        rows = self.split_rows(split)[:n]
        if not rows:
            raise DataError(f"manifest {self.path} has no {split!r} samples")
        stored, masks = {}, {}
        for m, modality in modalities.items():
            present = [m in r or (m == "text" and "caption" in r) for r in rows]
            if not any(present):
                raise DataError(f"no sample in {self.path} ({split}) has {m!r}")
            fill = next(self._raw(r, m, modality) for r, p in zip(rows, present) if p)
            raws = [self._raw(r, m, modality) if p else fill for r, p in zip(rows, present)]
            stored[m] = torch.cat([compact(m, modality.encode_data(raws[i:i + 256]))
                                   for i in range(0, len(raws), 256)])
            masks[m] = torch.tensor(present, dtype=torch.bool)
        return TensorDataset(stored, masks=masks, missing_p=missing_p)

    def captions(self, split: str, n: int) -> list[str]:
        modality_free = []
        for r in self.split_rows(split)[:n]:
            if "caption" in r:
                modality_free.append(r["caption"])
            elif "text" in r:
                modality_free.append(self._caption_file(r))
        return modality_free


def open_source(world: Mapping | None = None, cache: str | None = None,
                manifest: str | None = None) -> WorldSource | ManifestSource:
    if manifest:
        return ManifestSource.from_path(manifest)
    return WorldSource.from_config(world, cache)
