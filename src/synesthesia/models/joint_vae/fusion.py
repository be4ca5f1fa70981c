"""Fusion of unimodal Gaussian posteriors, as small pure functions.

Shapes: ``mu`` and ``logvar`` are ``(M, B, D)`` (M modalities, B samples, D latent dims) and
``mask`` is bool ``(M, B)``, True where sample b has modality m.

* product of experts (MVAE; Wu & Goodman, 2018): precisions add, means are precision-weighted;
* mixture of experts (MMVAE; Shi et al., 2019): sample an expert uniformly per sample;
* mixture of products of experts (MoPoE; Sutter, Daunhawer & Vogt, 2021): a product over a
  subset of the present modalities, the subset drawn uniformly per sample.
"""

from __future__ import annotations

import itertools

import torch

from synesthesia.models.gaussian import (
    LOG_2PI,
    diagonal_mixture_log_prob,
    gaussian_kl,
    gaussian_log_prob,
    reparameterise,
    standard_log_prob,
)

__all__ = ["LOG_2PI", "diagonal_mixture_log_prob", "gaussian_kl", "gaussian_log_prob", "mixture_log_prob",
           "mixture_sample", "pick_uniform", "poe", "random_subsets", "reparameterise", "standard_log_prob",
           "subsets"]


def poe(mu: torch.Tensor, logvar: torch.Tensor, mask: torch.Tensor,
        prior: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Product of the Gaussian experts selected by ``mask`` (and the N(0, I) prior expert when
    ``prior``): precision ``T = sum_m T_m``, mean ``T^-1 sum_m T_m mu_m``. Returns (B, D) each.

    A sample with no expert and no prior gets the prior N(0, I)."""
    w = mask.to(mu.dtype)[..., None]                                  # (M, B, 1)
    precision = torch.exp(-logvar) * w                                # (M, B, D)
    total = precision.sum(0) + (1.0 if prior else 0.0)                # (B, D)
    empty = (w.sum(0) == 0) if not prior else None
    if empty is not None and bool(empty.any()):
        total = total + empty.to(mu.dtype)
    mean = (precision * mu).sum(0) / total
    return mean, -torch.log(total)


def pick_uniform(mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """For each column b of bool ``mask`` (K, B), an index k with ``mask[k, b]`` drawn uniformly.
    Every column needs at least one True."""
    scores = torch.rand(mask.shape, generator=generator, device=mask.device)
    return scores.masked_fill(~mask, -1.0).argmax(0)                  # (B,)


def mixture_sample(mu: torch.Tensor, logvar: torch.Tensor, mask: torch.Tensor,
                   generator: torch.Generator | None = None,
                   temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """z (B, D) from the uniform mixture of the experts in ``mask``; also the chosen expert (B,)."""
    k = pick_uniform(mask, generator)
    cols = torch.arange(mu.shape[1], device=mu.device)
    return reparameterise(mu[k, cols], logvar[k, cols], generator, temperature), k


def mixture_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                     mask: torch.Tensor) -> torch.Tensor:
    """log of the uniform mixture density of the experts in ``mask`` at z (..., B, D) -> (..., B)."""
    comp = gaussian_log_prob(z[..., None, :, :], mu, logvar)          # (..., M, B)
    comp = comp.masked_fill(~mask, -float("inf"))
    return torch.logsumexp(comp, dim=-2) - torch.log(mask.sum(0).to(z.dtype))


def subsets(m: int, device=None) -> torch.Tensor:
    """All non-empty subsets of m modalities as a bool matrix (2^m - 1, m), smallest first."""
    rows = [c for r in range(1, m + 1) for c in itertools.combinations(range(m), r)]
    out = torch.zeros(len(rows), m, dtype=torch.bool, device=device)
    for i, c in enumerate(rows):
        out[i, list(c)] = True
    return out


def random_subsets(mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """For each sample, a non-empty subset of its present modalities drawn uniformly: (M, B)."""
    table = subsets(mask.shape[0], mask.device)                       # (K, M)
    # subset k is valid for sample b when it lies inside the sample's present set
    valid = ~(table[:, :, None] & ~mask[None]).any(1)                 # (K, B)
    return table[pick_uniform(valid, generator)].T                    # (M, B)
