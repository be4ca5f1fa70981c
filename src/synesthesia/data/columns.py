"""Map-style datasets over stored columns (in memory or memory-mapped shards).

``ds[indices]`` gathers a whole batch with one fancy-indexing operation per column and shard,
then converts dtypes: no per-sample Python objects. Text columns hold several captions per
sample ``(n, K, L)``; a training batch draws one of each sample's captions at random, a
validation batch takes the first, and :meth:`ColumnDataset.references` gives them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from synesthesia.data.batch import MultimodalBatch
from synesthesia.data.store import _drop_modalities, expand


class ShardedArray:
    """Arrays of equal trailing shape, one per shard, indexed as their concatenation."""

    def __init__(self, parts: Sequence[np.ndarray]) -> None:
        self.parts = list(parts)
        self.starts = np.cumsum([0, *[len(p) for p in self.parts]])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def take(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` in the order given; each shard is read once, in ascending order."""
        idx = np.asarray(idx, dtype=np.int64)
        if len(self.parts) == 1:
            return np.asarray(self.parts[0][idx])
        order = np.argsort(idx, kind="stable")
        ordered = idx[order]
        shard = np.searchsorted(self.starts, ordered, side="right") - 1
        pieces = []
        for s in np.unique(shard):
            local = ordered[shard == s] - self.starts[s]
            pieces.append(np.asarray(self.parts[s][local]))
        out = np.concatenate(pieces)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return out[inverse]


class ColumnDataset:
    """Samples held as columns: ``arrays[m]`` (n, ...), ``present[m]`` bool (n,), ``text_count``
    (n,) captions per sample. ``draw`` is "random" (training: one caption per sample and step)
    or "first" (validation)."""

    def __init__(self, arrays: Mapping[str, ShardedArray], present: Mapping[str, ShardedArray],
                 text_count: ShardedArray | None, missing_p: float = 0.0, draw: str = "random",
                 captions: Callable[[np.ndarray], list[list[str]]] | None = None) -> None:
        self.arrays, self.present, self.text_count = dict(arrays), dict(present), text_count
        self.missing_p, self.draw, self._captions = missing_p, draw, captions
        self.codes = None

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.arrays)

    def _text(self, idx: np.ndarray) -> torch.Tensor:
        ids = torch.from_numpy(self.arrays["text"].take(idx).astype(np.int64))        # (B, K, L)
        if ids.dim() == 2:
            return ids
        count = torch.from_numpy(self.text_count.take(idx).astype(np.int64)).clamp(min=1)
        pick = (torch.rand(len(idx)) * count).long() if self.draw == "random" else torch.zeros_like(count)
        return ids[torch.arange(len(idx)), pick.clamp(max=ids.shape[1] - 1)]         # (B, L)

    def __getitem__(self, index) -> MultimodalBatch:
        idx = np.atleast_1d(np.asarray(index, dtype=np.int64))
        data = {}
        for m, column in self.arrays.items():
            data[m] = self._text(idx) if m == "text" else expand(torch.from_numpy(column.take(idx)))
        masks = {m: torch.from_numpy(self.present[m].take(idx).astype(bool)) for m in self.arrays}
        if self.missing_p > 0 and len(masks) > 1:
            masks = _drop_modalities(masks, self.missing_p)
        return MultimodalBatch(data, masks, None)

    @property
    def stored(self) -> dict[str, torch.Tensor]:
        """Every column in storage form (first caption for text): for code that wants the whole
        split in memory (scorers, fitted priors). Reads everything; avoid on large data."""
        idx = np.arange(len(self))
        out = {m: torch.from_numpy(np.asarray(c.take(idx))) for m, c in self.arrays.items() if m != "text"}
        if "text" in self.arrays:
            ids = torch.from_numpy(self.arrays["text"].take(idx).astype(np.int64))
            out["text"] = ids[:, 0] if ids.dim() == 3 else ids
        return out

    @property
    def masks(self) -> dict[str, torch.Tensor]:
        idx = np.arange(len(self))
        return {m: torch.from_numpy(self.present[m].take(idx).astype(bool)) for m in self.arrays}

    def references(self, index) -> list[list[str]]:
        """Every caption of the samples ``index`` (evaluation references)."""
        if self._captions is None:
            raise ValueError("this dataset keeps no caption text")
        return self._captions(np.atleast_1d(np.asarray(index, dtype=np.int64)))

    def caption_ids(self, index) -> tuple[torch.Tensor, torch.Tensor]:
        """All caption ids ``(B, K, L)`` and how many are real ``(B,)``."""
        idx = np.atleast_1d(np.asarray(index, dtype=np.int64))
        return (torch.from_numpy(self.arrays["text"].take(idx).astype(np.int64)),
                torch.from_numpy(self.text_count.take(idx).astype(np.int64)))


def in_memory(columns: Mapping[str, np.ndarray], present: Mapping[str, np.ndarray], text_count: np.ndarray,
              captions: list[list[str]], missing_p: float = 0.0, draw: str = "random") -> ColumnDataset:
    """A :class:`ColumnDataset` over arrays held in memory."""
    return ColumnDataset({m: ShardedArray([a]) for m, a in columns.items()},
                         {m: ShardedArray([a]) for m, a in present.items()}, ShardedArray([text_count]),
                         missing_p, draw, _ListCaptions(captions))


class _ListCaptions:
    def __init__(self, captions: list[list[str]]) -> None:
        self.captions = captions

    def __call__(self, idx) -> list[list[str]]:
        return [self.captions[i] for i in idx]
