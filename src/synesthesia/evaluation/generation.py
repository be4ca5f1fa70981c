"""What evaluation generates from: test samples as raw arrays and model tensors, and batched
generation at the tensor level (no per-sample PIL objects), returning raw arrays for the oracles.

Any model family plugs in through the same contract the pipeline uses:
``model.generate(given: {modality: tensor}, targets, generator=, temperature=, batch_size=)``
and, optionally, ``model.directions()`` listing the (given subset, target) pairs it serves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synesthesia.data.sources import WorldSource
from synesthesia.data.store import encode_world_arrays, expand
from synesthesia.errors import SynesthesiaError
from synesthesia.pipeline import Options
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

    stored = encode_world_arrays(raw, pipe.modalities, source.config.sample_rate)
    tensors = {m: expand(x) for m, x in stored.items()}
    codes = {a: np.asarray(v) for a, v in raw["codes"].items()}
    return EvalData({m: raw[m] for m in names}, tensors, codes, source.config,
                    source.config.fingerprint(), np.arange(n))

def model_directions(pipe) -> list[Direction]:
    """The directions a pipeline serves."""
    return pipe.directions()

def direction_name(given: Sequence[str], target: str) -> str:
    return f"{'+'.join(given)}->{target}"

@torch.no_grad()
def generate_tensors(pipe, given: Mapping[str, torch.Tensor], target: str, seed: int = 0,
                     batch: int = 250, temperature: float = 1.0, count: int | None = None,
                     expand: bool | None = None, **options) -> torch.Tensor:
    """Generate ``target`` in model form for each row of ``given`` (or ``count`` unconditional
    samples when ``given`` is empty), in batches, with the pipeline's generation ``options``."""

    g = pipe.generator(seed)
    n = count if not given else len(next(iter(given.values())))
    opts = Options(**options)
    parts = []
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        sub = {m: x[lo:hi].to(pipe.device) for m, x in given.items()}
        out = pipe.generate_tensors(sub, [target], g, temperature, opts, expand,
                                    batch_size=None if sub else hi - lo)[target]
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
