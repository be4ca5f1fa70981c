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
import math
from collections.abc import Sequence

import torch

LOG_2PI = math.log(2 * math.pi)


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
    comp = _component_log_probs(z, means, logvars)                               # (N, K)
    if log_weights is None:
        return torch.logsumexp(comp, dim=-1) - math.log(len(means))
    return torch.logsumexp(comp + log_weights, dim=-1)


def _component_log_probs(z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor) -> torch.Tensor:
    prec = torch.exp(-logvars)                                                   # (K, D)
    quad = z.square() @ prec.T - 2.0 * z @ (means * prec).T + (means.square() * prec).sum(-1)   # (N, K)
    return -0.5 * (quad.clamp_min(0.0) + logvars.sum(-1) + z.shape[-1] * LOG_2PI)


def fit_diagonal_gmm(x: torch.Tensor, components: int, iterations: int = 200, tol: float = 1e-5,
                     generator: torch.Generator | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A mixture of ``components`` diagonal Gaussians fitted to points x (N, D) by expectation
    maximisation, started from k-means++ seeds. The variances are floored at 1e-3 of the data's
    per-dimension variance, and a component left with no points is re-seeded at the worst-fitted
    point. Stops when the mean log-likelihood gains less than ``tol`` nats. Returns (means,
    logvars, log_weights): (K, D), (K, D), (K,)."""
    x = x.detach().float()
    n, d = x.shape
    k = int(components)
    if not 1 <= k <= n:
        raise ValueError(f"components must be between 1 and the number of points ({n}); got {k}")
    floor = 1e-3 * x.var(0, unbiased=False).clamp_min(1e-12)
    means = _kmeans_pp(x, k, generator)
    var = x.var(0, unbiased=False).expand(k, d).clone()
    log_w = torch.full((k,), -math.log(k))
    last = -math.inf
    for _ in range(iterations):
        joint = _component_log_probs(x, means, var.log()) + log_w                # (N, K)
        ll = torch.logsumexp(joint, -1)
        resp = torch.exp(joint - ll[:, None])
        counts = resp.sum(0)                                                     # (K,)
        empty = counts < 1e-3
        if bool(empty.any()):                  # the M-step below moves them onto these points
            worst = ll.argsort()[: int(empty.sum())]
            resp[:, empty] = 0.0
            resp[worst, torch.nonzero(empty)[:, 0]] = 1.0
            counts = resp.sum(0)
        means = (resp.T @ x) / counts[:, None]
        var = ((resp.T @ x.square()) / counts[:, None] - means.square()).clamp_min(0.0) + floor
        log_w = torch.log(counts / n)
        mean_ll = float(ll.mean())
        if mean_ll - last < tol:
            break
        last = mean_ll
    return means, var.log(), log_w


def _kmeans_pp(x: torch.Tensor, k: int, generator: torch.Generator | None) -> torch.Tensor:
    """k seeds from x, each drawn with probability proportional to its squared distance to the
    seeds before it (Arthur & Vassilvitskii, 2007)."""
    first = int(torch.randint(len(x), (1,), generator=generator))
    seeds = [x[first]]
    d2 = (x - x[first]).square().sum(-1)
    for _ in range(1, k):
        i = int(torch.multinomial(d2 / d2.sum() if float(d2.sum()) > 0 else torch.ones_like(d2), 1,
                                  generator=generator))
        seeds.append(x[i])
        d2 = torch.minimum(d2, (x - x[i]).square().sum(-1))
    return torch.stack(seeds).clone()


def select_diagonal_gmm(x: torch.Tensor, groups: torch.Tensor, candidates: Sequence[int],
                        holdout: float = 0.2, generator: torch.Generator | None = None
                        ) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], dict[int, float]]:
    """Fit a diagonal GMM to x (N, D) for each number of components in ``candidates``, score it
    by the mean log-likelihood of held-out points (``holdout`` of the ``groups``, e.g. the
    training samples the points were drawn for, so that draws of one sample are not split), and
    refit the best on every point. Returns the refitted (means, logvars, log_weights) and the
    held-out score of each candidate."""
    ids = torch.unique(groups)
    perm = ids[torch.randperm(len(ids), generator=generator)]
    held = torch.isin(groups, perm[: max(1, int(round(holdout * len(ids))))])
    if bool(held.all()) or not bool(held.any()):
        raise ValueError("select_diagonal_gmm needs points of at least two groups")
    fit, test = x[~held], x[held]
    scores = {}
    for k in candidates:
        if k > len(fit):
            continue
        params = fit_diagonal_gmm(fit, k, generator=generator)
        scores[int(k)] = float(diagonal_mixture_log_prob(test, *params).mean())
    if not scores:
        raise ValueError(f"no candidate number of components fits {len(fit)} points")
    best = max(scores, key=scores.get)
    return fit_diagonal_gmm(x, best, generator=generator), scores


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None,
                   temperature: float = 1.0) -> torch.Tensor:
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + temperature * torch.exp(0.5 * logvar) * eps


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
