"""Step-size adaptation by dual averaging (Hoffman & Gelman, 2014, "The No-U-Turn Sampler",
JMLR 15, section 3.2.1 and Algorithm 5), vectorised over any shape of independent step sizes; the
samplers keep one per target (shape (1, B)), fed with the mean acceptance of its chains.

With ``H_t = delta - alpha_t`` the gap between the target and the observed acceptance, iteration
``t = 1, 2, ...`` sets::

    h_bar_t       = (1 - 1/(t + t0)) h_bar_{t-1} + H_t / (t + t0)
    log eps_t     = mu - sqrt(t) / gamma * h_bar_t
    log eps_bar_t = t^-kappa log eps_t + (1 - t^-kappa) log eps_bar_{t-1}

with ``mu = log(10 eps_0)``; sampling after warm-up uses ``eps_bar``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DualAveraging:
    """Dual-averaging statistics; every tensor has the shape of the step sizes it adapts."""

    target: float  # delta: the acceptance probability aimed at
    mu: torch.Tensor  # log(10 eps_0): the point the iterates shrink towards
    h_bar: torch.Tensor  # running mean of (target - acceptance)
    log_step_bar: torch.Tensor  # averaged log step size
    t: int = 0
    gamma: float = 0.05
    t0: float = 10.0
    kappa: float = 0.75

    @classmethod
    def start(cls, step_size: torch.Tensor, target: float) -> DualAveraging:
        """Fresh statistics around the current step sizes."""
        zeros = torch.zeros_like(step_size)
        return cls(target=target, mu=torch.log(10.0 * step_size), h_bar=zeros,
                   log_step_bar=zeros)

    def update(self, accept_prob: torch.Tensor) -> tuple[DualAveraging, torch.Tensor]:
        """New statistics and the step sizes to use next, given acceptance probabilities."""
        t = self.t + 1
        w = 1.0 / (t + self.t0)
        h_bar = (1.0 - w) * self.h_bar + w * (self.target - accept_prob)
        log_step = self.mu - math.sqrt(t) / self.gamma * h_bar
        eta = t ** (-self.kappa)
        log_step_bar = eta * log_step + (1.0 - eta) * self.log_step_bar
        stats = dataclasses.replace(self, h_bar=h_bar, log_step_bar=log_step_bar, t=t)
        return stats, log_step.exp()

    def final_step_size(self) -> torch.Tensor:
        """The averaged step sizes to sample with once warm-up is over."""
        return self.log_step_bar.exp()
