"""In-memory datasets of preprocessed tensors.

Samples are encoded once by their modality's codec and kept in compact dtypes (images and videos
as uint8, spectrograms as float16, token ids as int64); a batch is a single indexing operation
plus a dtype conversion, with no per-sample Python objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

from synesthesia.data.batch import MultimodalBatch
from synesthesia.modalities.base import Modality

# modality name -> stored dtype for the model-form tensor
_UNIT_UINT8 = ("image", "video")


def compact(name: str, x: torch.Tensor) -> torch.Tensor:
    """Model-form tensor -> storage form."""
    if name in _UNIT_UINT8 and x.is_floating_point():
        return (x.clamp(0, 1) * 255).round().to(torch.uint8)
    if x.is_floating_point():
        return x.to(torch.float16)
    return x


def expand(x: torch.Tensor) -> torch.Tensor:
    """Storage form -> model form."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    if x.dtype == torch.float16:
        return x.float()
    return x


def encode_world_arrays(arrays: Mapping, modalities: Mapping[str, Modality], sample_rate: int,
                        chunk: int = 1024) -> dict[str, torch.Tensor]:
    """World arrays (as :meth:`ShapesWorld.render` gives them) -> stored tensors per modality."""
    out: dict[str, torch.Tensor] = {}
    for name, modality in modalities.items():
        raw = arrays[name]
        if name == "image":                       # uint8 (N, S, S, 3) -> (N, 3, S, S)
            _check_side(raw.shape[1], modality, "image")
            out[name] = torch.from_numpy(np.ascontiguousarray(raw.transpose(0, 3, 1, 2)))
        elif name == "video":                     # uint8 (N, T, S, S, 3) -> (N, T, 3, S, S)
            _check_side(raw.shape[2], modality, "video")
            out[name] = torch.from_numpy(np.ascontiguousarray(raw.transpose(0, 1, 4, 2, 3)))
        elif name == "audio":
            out[name] = _encode_chunks(name, modality, [(w, sample_rate) for w in raw], chunk)
        else:
            out[name] = _encode_chunks(name, modality, list(raw), chunk)
    return out


def _check_side(side: int, modality: Modality, what: str) -> None:
    want = modality.shape[-1]
    if side != want:
        raise ValueError(f"the data's {what} side is {side} px but the {what} modality expects {want}; "
                         f"set modalities.{what}.size to {side} or change the data")


def _encode_chunks(name: str, modality: Modality, raws: Sequence, chunk: int) -> torch.Tensor:
    parts = [compact(name, modality.encode_data(raws[i:i + chunk])) for i in range(0, len(raws), chunk)]
    return torch.cat(parts)


class TensorDataset:
    """Stored tensors per modality (+ masks, + attribute codes); ``ds[list_of_indices]`` returns a
    :class:`MultimodalBatch` in model form. Use with a ``BatchSampler`` and ``batch_size=None``.

    ``missing_p`` hides each modality of each sample with that probability (at least one stays),
    which trains a model for every subset of given modalities.
    """

    def __init__(self, stored: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None = None,
                 codes: torch.Tensor | None = None, missing_p: float = 0.0) -> None:
        self.stored = dict(stored)
        n = {len(x) for x in self.stored.values()}
        if len(n) != 1:
            raise ValueError(f"stored modalities disagree on length: { {m: len(x) for m, x in stored.items()} }")
        self.n = n.pop()
        self.masks = {m: (masks or {}).get(m, torch.ones(self.n, dtype=torch.bool)) for m in self.stored}
        self.codes = codes
        self.missing_p = missing_p

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index) -> MultimodalBatch:
        idx = torch.as_tensor(index if not isinstance(index, int) else [index], dtype=torch.long)
        data = {m: expand(x[idx]) for m, x in self.stored.items()}
        masks = {m: x[idx].clone() for m, x in self.masks.items()}
        if self.missing_p > 0 and len(masks) > 1:
            masks = _drop_modalities(masks, self.missing_p)
        codes = None if self.codes is None else self.codes[idx]
        return MultimodalBatch(data, masks, codes)


def _drop_modalities(masks: dict[str, torch.Tensor], p: float) -> dict[str, torch.Tensor]:
    names = list(masks)
    present = torch.stack([masks[m] for m in names])                     # (M, B)
    keep = present & (torch.rand(present.shape) >= p)
    # a sample that lost everything keeps one of its present modalities at random
    empty = ~keep.any(0)
    if empty.any():
        scores = torch.rand(present.shape).masked_fill(~present, -1.0)
        choice = scores.argmax(0)
        keep[choice[empty], torch.nonzero(empty).squeeze(1)] = True
    return {m: keep[i] for i, m in enumerate(names)}


def batches(dataset: TensorDataset, batch_size: int, shuffle: bool = False,
            generator: torch.Generator | None = None) -> Iterable[MultimodalBatch]:
    """Iterate a dataset in batches without a DataLoader (evaluation, tests)."""
    order = torch.randperm(len(dataset), generator=generator) if shuffle else torch.arange(len(dataset))
    for lo in range(0, len(dataset), batch_size):
        yield dataset[order[lo:lo + batch_size].tolist()]


ProgressFn = Callable[[int, int], None]
