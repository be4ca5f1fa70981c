"""Log-likelihoods the modalities use, as small pure functions summed per sample."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_log_prob(mean: torch.Tensor, x: torch.Tensor, scale: float) -> torch.Tensor:
    """``log N(x; mean, scale^2 I)`` summed over all but the batch axis: ``(B,)``."""
    z = (x - mean) / scale
    per = -0.5 * z * z - math.log(scale) - 0.5 * math.log(2 * math.pi)
    return per.flatten(1).sum(1)


def categorical_log_prob(logits: torch.Tensor, ids: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """``log Cat(ids; softmax(logits))`` summed over positions that are not ``pad_id``.

    logits (B, L, V), ids (B, L) -> (B,)."""
    logp = -F.cross_entropy(logits.transpose(1, 2), ids, reduction="none")      # (B, L)
    return (logp * (ids != pad_id)).sum(1)
