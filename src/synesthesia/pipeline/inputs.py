"""Raw inputs of a generation request, encoded with a run's codecs: a value or a list of values
per modality, within the per-call limit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from PIL import Image

from synesthesia.errors import shown
from synesthesia.pipeline.run import PipelineError, Run, device_of

MAX_N = 4096          # outputs per call of the Python API; the command line streams larger requests


def check_count(n: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise PipelineError(f"n must be a whole number, got {shown(n)}")
    if not 1 <= n <= MAX_N:
        raise PipelineError(f"n must be between 1 and {MAX_N} per call, got {n}; for more, call again "
                            "(the command line's generate streams any number in batches)")

RAW_SEQUENCE_TYPES = (list,)

def is_frame_list(modality: str, value) -> bool:
    """A video given as a list of frames is one input, not a batch."""

    return modality == "video" and len(value) > 0 and isinstance(value[0], Image.Image)

def encode(run: Run, given: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], int, bool]:
    """Raw inputs -> model tensors with the run's codecs; (tensors, batch size, batched?)."""
    for m in given:
        if m not in run.modalities:
            raise PipelineError(f"this model has no {m!r} modality to condition on; it has "
                                f"{', '.join(run.modalities)}")
    tensors, sizes, batched = {}, set(), False
    for m, value in given.items():
        raws = value if isinstance(value, RAW_SEQUENCE_TYPES) and not is_frame_list(m, value) else [value]
        batched |= raws is value
        if len(raws) == 0:
            raise PipelineError(f"{m}= is an empty list; give at least one {m}")
        if len(raws) > MAX_N:
            raise PipelineError(f"{m}= holds {len(raws)} inputs; give at most {MAX_N} per call")
        tensors[m] = run.modalities[m].encode(raws).to(device_of(run.model))
        sizes.add(len(raws))
    if len(sizes) > 1:
        raise PipelineError(f"inputs disagree on batch size: { {m: len(t) for m, t in tensors.items()} }")
    return tensors, sizes.pop(), batched
