"""Densities over a latent space, fitted to a model's latents: objects with ``fit`` (a class
method), ``log_prob`` and ``sample``, saved with the run (``RUN/priors/<name>``) once fitted.

* :class:`StandardNormal` — N(0, I), the prior a VAE is trained with;
* :class:`AggregatePosterior` — the aggregate posterior of training data, the uniform mixture of
  q(z | x_i) over training rows (the ex-post prior of Ghosh et al. 2020; the VampPrior of Tomczak &
  Welling 2018 with every training point a pseudo-input): the density of the latents the decoders
  were trained on, where N(0, I) has holes they never saw;
* :class:`GaussianMixture` — a diagonal Gaussian mixture fitted to draws of that aggregate
  posterior by EM, its number of components chosen by held-out likelihood: a smooth density that
  does not pin samples to single training rows.

Shapes: z (N, D) -> log_prob (N,).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from synesthesia.models.gaussian import (
    component_log_probs,
    diagonal_mixture_log_prob,
    reparameterise,
    standard_log_prob,
)
from synesthesia.sampling.base import SamplingError


class LatentDensity(nn.Module):
    """A density over R^D; subclasses hold their parameters as buffers (saved as safetensors)."""

    name: ClassVar[str] = ""

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def meta(self) -> dict:
        """What rebuilds the density from its saved buffers (with :func:`density_from_state`)."""
        return {"density": self.name, "shapes": {k: list(v.shape) for k, v in self.state_dict().items()}}


class StandardNormal(LatentDensity):
    name = "standard"

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("dim", torch.tensor(int(dim)))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return standard_log_prob(z)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, int(self.dim), generator=generator, device=self.dim.device)


class AggregatePosterior(LatentDensity):
    """The uniform mixture of the rows' posteriors N(means[k], exp(logvars[k]))."""

    name = "aggregate"

    def __init__(self, means: torch.Tensor, logvars: torch.Tensor) -> None:
        super().__init__()
        if means.dim() != 2 or means.shape != logvars.shape or len(means) < 1:
            raise SamplingError(f"the aggregate posterior needs (K, D) means and log-variances; got "
                                f"{tuple(means.shape)} and {tuple(logvars.shape)}")
        self.register_buffer("means", means.float())
        self.register_buffer("logvars", logvars.float())

    @classmethod
    def fit(cls, means: torch.Tensor, logvars: torch.Tensor, **_) -> AggregatePosterior:
        return cls(means, logvars)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return diagonal_mixture_log_prob(z, self.means, self.logvars)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.randint(len(self.means), (n,), generator=generator, device=self.means.device)
        return reparameterise(self.means[k], self.logvars[k], generator)


class GaussianMixture(LatentDensity):
    """A diagonal Gaussian mixture with weights ``exp(log_weights)``."""

    name = "gmm"

    def __init__(self, means: torch.Tensor, logvars: torch.Tensor, log_weights: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("means", means.float())
        self.register_buffer("logvars", logvars.float())
        self.register_buffer("log_weights", log_weights.float())
        self.scores: dict[int, float] = {}          # held-out mean log-likelihood per number of components

    @classmethod
    def fit(cls, means: torch.Tensor, logvars: torch.Tensor, draws: int = 5,
            components: Sequence[int] = (1, 4, 16, 64, 256), generator: torch.Generator | None = None,
            **_) -> GaussianMixture:
        """``draws`` latents from each row's posterior N(means[i], exp(logvars[i])), a mixture
        fitted by EM for each number of ``components``, the one whose held-out rows are likeliest
        refitted on all of them."""
        if draws < 1:
            raise SamplingError(f"draws must be >= 1, got {draws}")
        if len(means) < 2:
            raise SamplingError("a Gaussian mixture prior needs at least two rows (some are held out to "
                                "choose the number of components)")
        g = generator or torch.Generator().manual_seed(0)
        x = torch.cat([reparameterise(means.cpu().float(), logvars.cpu().float(), g) for _ in range(draws)])
        rows = torch.arange(len(means)).repeat(draws)
        params, scores = select_diagonal_gmm(x, rows, components, generator=g)
        out = cls(*params)
        out.scores = scores
        return out.to(means.device)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return diagonal_mixture_log_prob(z, self.means, self.logvars, self.log_weights)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.multinomial(self.log_weights.exp(), n, replacement=True, generator=generator)
        return reparameterise(self.means[k], self.logvars[k], generator)

    def meta(self) -> dict:
        return {**super().meta(), "scores": {str(k): v for k, v in self.scores.items()}}


# density name -> class; fitted ones take (means, logvars) of the training rows' posteriors
DENSITIES: dict[str, type[LatentDensity]] = {"standard": StandardNormal, "aggregate": AggregatePosterior,
                                             "gmm": GaussianMixture}
FITTED = ("aggregate", "gmm")


def density_from_state(meta: dict, state: dict[str, torch.Tensor]) -> LatentDensity:
    """Rebuild a saved density from :meth:`LatentDensity.meta` and its buffers."""
    name = meta.get("density")
    if name not in DENSITIES:
        raise SamplingError(f"unknown saved density {name!r}; known: {', '.join(DENSITIES)}")
    if name == "standard":
        return StandardNormal(int(state["dim"]))
    keys = {"aggregate": ("means", "logvars"), "gmm": ("means", "logvars", "log_weights")}[name]
    missing = [k for k in keys if k not in state]
    if missing:
        raise SamplingError(f"the saved {name} density lacks {missing}; fit it again")
    out = DENSITIES[name](*(state[k] for k in keys))
    if name == "gmm":
        out.scores = {int(k): float(v) for k, v in (meta.get("scores") or {}).items()}
    return out


# -- expectation maximisation for diagonal mixtures ------------------------------------------------
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
        raise SamplingError(f"components must be between 1 and the number of points ({n}); got {k}")
    floor = 1e-3 * x.var(0, unbiased=False).clamp_min(1e-12)
    means = _kmeans_pp(x, k, generator)
    var = x.var(0, unbiased=False).expand(k, d).clone()
    log_w = torch.full((k,), -math.log(k))
    last = -math.inf
    for _ in range(iterations):
        joint = component_log_probs(x, means, var.log()) + log_w                # (N, K)
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
        raise SamplingError("select_diagonal_gmm needs points of at least two groups")
    fit, test = x[~held], x[held]
    scores = {}
    for k in candidates:
        if k > len(fit):
            continue
        params = fit_diagonal_gmm(fit, k, generator=generator)
        scores[int(k)] = float(diagonal_mixture_log_prob(test, *params).mean())
    if not scores:
        raise SamplingError(f"no candidate number of components fits {len(fit)} points")
    best = max(scores, key=scores.get)
    return fit_diagonal_gmm(x, best, generator=generator), scores
