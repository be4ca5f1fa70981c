"""What evaluation generates from: test samples as raw arrays and model tensors, and batched
generation at the tensor level (no per-sample PIL objects), returning raw arrays for the oracles.

Any model family plugs in through the same contract the pipeline uses:
``model.generate(given: {modality: tensor}, targets, generator=, temperature=, batch_size=)``
and, optionally, ``model.directions()`` listing the (given subset, target) pairs it serves.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from synesthesia.errors import SynesthesiaError
from synesthesia.world import WorldConfig


class EvaluationError(SynesthesiaError):
    """An evaluation request that cannot be served; the message says what to change."""


Direction = tuple[tuple[str, ...], str]


@dataclass
class EvalData:
    """``n`` test samples: ``raw[m]`` in the world's raw layout (uint8 images/videos, float
    waveforms, captions), ``tensors[m]`` in model form, ``codes`` (attribute -> (n,)) when the data
    has attributes, and the world they come from (None for users' own files)."""

    raw: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    codes: dict[str, np.ndarray] | None
    world: WorldConfig | None
    fingerprint: str
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n(self) -> int:
        return len(next(iter(self.tensors.values())))

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.tensors)


def load_eval_data(pipe, data: str | Path | None = None, n: int = 1000, split: str = "test") -> EvalData:
    """Test samples for ``pipe``'s modalities from the run's own world (``data=None``) or a world
    cache folder (users' files go through :func:`synesthesia.evaluation.evaluate.evaluate_files`)."""
    from synesthesia.data.sources import WorldSource

    names = list(pipe.modalities)
    world_cfg = pipe.config.data.world if pipe.config is not None else None
    source = WorldSource.from_config(world_cfg, str(data) if data is not None else None)
    missing = [m for m in names if m not in source.modalities]
    if missing:
        raise EvaluationError(f"the data has no {missing}; the model needs {names}")
    have = source.size(split)
    if have is not None and have < n:
        raise EvaluationError(f"the data's {split!r} split has {have} samples, {n} asked; lower --n")
    raw = source.load(split, n, names)
    from synesthesia.data.store import encode_world_arrays, expand

    stored = encode_world_arrays(raw, pipe.modalities, source.config.sample_rate)
    tensors = {m: expand(x) for m, x in stored.items()}
    codes = {a: np.asarray(v) for a, v in raw["codes"].items()}
    return EvalData({m: raw[m] for m in names}, tensors, codes, source.config,
                    source.config.fingerprint(), np.arange(n))


def all_directions(modalities: Sequence[str]) -> list[Direction]:
    out = []
    for target in modalities:
        others = [m for m in modalities if m != target]
        for r in range(1, len(others) + 1):
            out += [(given, target) for given in itertools.combinations(others, r)]
    return out


def model_directions(model, modalities: Sequence[str]) -> list[Direction]:
    """The directions ``model`` serves (``model.directions()`` when it says, else all)."""
    if hasattr(model, "directions"):
        return [(tuple(g), t) for g, t in model.directions()]
    return all_directions(modalities)


def direction_name(given: Sequence[str], target: str) -> str:
    return f"{'+'.join(given)}->{target}"


@torch.no_grad()
def generate_tensors(pipe, given: Mapping[str, torch.Tensor], target: str, seed: int = 0,
                     batch: int = 250, temperature: float = 1.0, count: int | None = None,
                     **options) -> torch.Tensor:
    """Generate ``target`` in model form for each row of ``given`` (or ``count`` unconditional
    samples when ``given`` is empty), in batches."""
    model, device = pipe.model, pipe.device
    g = torch.Generator(device=device).manual_seed(seed)
    n = count if not given else len(next(iter(given.values())))
    call = getattr(pipe, "model_generate", model.generate)             # a Pipeline expands captions
    parts = []
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        sub = {m: x[lo:hi].to(device) for m, x in given.items()}
        out = call(sub, [target], generator=g, temperature=temperature,
                   batch_size=None if sub else hi - lo, **options)[target]
        parts.append(out.float().cpu() if out.is_floating_point() else out.cpu())
    return torch.cat(parts)


def generate_raw(pipe, given: Mapping[str, torch.Tensor], target: str, **kwargs) -> Any:
    """:func:`generate_tensors`, decoded to the target's raw batch (see ``decode_batch``)."""
    return pipe.modalities[target].decode_batch(generate_tensors(pipe, given, target, **kwargs))


def take(raw: Any, rows: np.ndarray) -> Any:
    """Rows of a raw batch (array or list)."""
    if isinstance(raw, list):
        return [raw[i] for i in rows]
    return raw[rows]
