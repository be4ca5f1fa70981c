"""Gaussian densities in the latent space, as small pure functions shared by the models and the
samplers: KL to N(0, I), log densities of diagonal Gaussians and their mixtures, and the
reparameterised draw.

Shapes: ``z``, ``mu``, ``logvar`` broadcast over leading axes; the last axis is the latent (D).
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over the last axis."""
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(-1)


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, exp(logvar)) summed over the last axis (broadcasting)."""
    return -0.5 * ((z - mu).square() * torch.exp(-logvar) + logvar + LOG_2PI).sum(-1)


def standard_log_prob(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * (z.square() + LOG_2PI).sum(-1)


def diagonal_mixture_log_prob(z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor,
                              log_weights: torch.Tensor | None = None) -> torch.Tensor:
    """log of the mixture of K diagonal Gaussians N(means[k], exp(logvars[k])) at z (N, D) ->
    (N,), uniform unless ``log_weights`` (K,) are given. The squared distances come from two
    matrix products, so thousands of components cost little."""
    comp = component_log_probs(z, means, logvars)                               # (N, K)
    if log_weights is None:
        return torch.logsumexp(comp, dim=-1) - math.log(len(means))
    return torch.logsumexp(comp + log_weights, dim=-1)


def component_log_probs(z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor) -> torch.Tensor:
    prec = torch.exp(-logvars)                                                   # (K, D)
    quad = z.square() @ prec.T - 2.0 * z @ (means * prec).T + (means.square() * prec).sum(-1)   # (N, K)
    return -0.5 * (quad.clamp_min(0.0) + logvars.sum(-1) + z.shape[-1] * LOG_2PI)


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None,
                   temperature: float = 1.0) -> torch.Tensor:
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + temperature * torch.exp(0.5 * logvar) * eps
