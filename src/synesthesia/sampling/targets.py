"""Reference targets with known moments, for testing and benchmarking samplers.

Each is a callable ``log_prob(z)``: (C, B, D) -> (C, B), batched over B independent targets, with
``mean`` and ``variance`` (B, D) known in closed form and ``sample(n)`` giving exact draws.
"""

from __future__ import annotations

import math

import torch

from synesthesia.sampling.base import SamplingError


class GaussianTarget:
    """B Gaussians ``N(mean[b], cov[b])``: mean (B, D), cov (B, D, D) symmetric positive
    definite."""

    def __init__(self, mean: torch.Tensor, cov: torch.Tensor):
        self.mean = mean  # (B, D)
        self.cov = cov  # (B, D, D)
        self.precision = torch.linalg.inv(cov)  # (B, D, D)
        self._chol = torch.linalg.cholesky(cov)  # (B, D, D)
        self._log_norm = (-0.5 * torch.logdet(cov)
                          - 0.5 * mean.shape[-1] * math.log(2 * math.pi))  # (B,)

    @property
    def variance(self) -> torch.Tensor:
        return torch.diagonal(self.cov, dim1=-2, dim2=-1)  # (B, D)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        diff = z - self.mean  # (C, B, D)
        quad = torch.einsum("cbi,bij,cbj->cb", diff, self.precision, diff)  # (C, B)
        return self._log_norm - 0.5 * quad

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n exact draws per target: (n, B, D)."""
        eps = torch.randn((n, *self.mean.shape), generator=generator, dtype=self.mean.dtype,
                          device=self.mean.device)
        return self.mean + torch.einsum("bij,nbj->nbi", self._chol, eps)


class BananaTarget:
    """The twisted Gaussian of Haario, Saksman & Tamminen (1999), "Adaptive proposal
    distribution for random walk Metropolis algorithm", Computational Statistics 14(3).

    ``y ~ N(0, diag(sigma1^2, 1, ..., 1))`` bent by ``x2 = y2 - twist (y1^2 - sigma1^2)``, so
    ``log p(x) = log N(x1, x2 + twist (x1^2 - sigma1^2), x3, ...)`` (unit Jacobian). Its mean is 0;
    its variance is ``sigma1^2`` for x1, ``1 + 2 twist^2 sigma1^4`` for x2 and 1 elsewhere.
    """

    def __init__(self, n_targets: int = 1, dim: int = 2, sigma1: float = 2.0,
                 twist: float = 0.25, dtype: torch.dtype = torch.float32):
        if dim < 2:
            raise SamplingError("the banana target needs dim >= 2")
        self.sigma1, self.twist = sigma1, twist
        self.mean = torch.zeros(n_targets, dim, dtype=dtype)  # (B, D)
        var = torch.ones(dim, dtype=dtype)
        var[0], var[1] = sigma1 ** 2, 1.0 + 2.0 * twist ** 2 * sigma1 ** 4
        self.variance = var.expand(n_targets, dim).clone()  # (B, D)

    def untwist(self, x: torch.Tensor) -> torch.Tensor:
        """The Gaussian coordinates y of points x (..., D)."""
        y2 = x[..., 1] + self.twist * (x[..., 0] ** 2 - self.sigma1 ** 2)
        return torch.cat([x[..., :1], y2.unsqueeze(-1), x[..., 2:]], dim=-1)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        y = self.untwist(z)  # (C, B, D)
        y = torch.cat([y[..., :1] / self.sigma1, y[..., 1:]], dim=-1)
        return -0.5 * (y ** 2).sum(-1) - math.log(self.sigma1) - 0.5 * z.shape[-1] * math.log(
            2 * math.pi)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n exact draws per target: (n, B, D)."""
        y = torch.randn((n, *self.mean.shape), generator=generator, dtype=self.mean.dtype,
                        device=self.mean.device)
        y[..., 0] *= self.sigma1
        y[..., 1] -= self.twist * (y[..., 0] ** 2 - self.sigma1 ** 2)
        return y


class BimodalTarget:
    """An equal mixture of ``N(+offset, I)`` and ``N(-offset, I)`` per target; mean 0 and
    variance ``1 + offset^2`` per coordinate. With well-separated modes, chains started in
    different modes never meet: the case R-hat is built to catch."""

    def __init__(self, offset: torch.Tensor):
        self.offset = offset  # (B, D)
        self.mean = torch.zeros_like(offset)
        self.variance = 1.0 + offset ** 2

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        d = z.shape[-1]
        plus = -0.5 * ((z - self.offset) ** 2).sum(-1)  # (C, B)
        minus = -0.5 * ((z + self.offset) ** 2).sum(-1)
        return (torch.logaddexp(plus, minus) - math.log(2.0)
                - 0.5 * d * math.log(2 * math.pi))
