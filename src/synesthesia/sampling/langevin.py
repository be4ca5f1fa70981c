"""Langevin samplers: one gradient step plus Gaussian noise, with or without a Metropolis test.

Both discretise the Langevin diffusion ``dz = 1/2 S grad log p(z) dt + S^(1/2) dW`` with a constant
diagonal preconditioner ``S = diag(scale^2)`` (Roberts & Tweedie, 1996, "Exponential convergence
of Langevin distributions and their discrete approximations", Bernoulli 2(4); preconditioning as
the constant-metric case of Girolami & Calderhead, 2011, "Riemann manifold Langevin and
Hamiltonian Monte Carlo methods", JRSS-B 73(2))::

    z' = z + eps^2 / 2 * scale^2 * grad log p(z) + eps * scale * xi,    xi ~ N(0, I)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from synesthesia.sampling.base import LogProb, Sampler, SamplerState, log_prob_and_grad, metropolis


def _drift_mean(z: torch.Tensor, grad: torch.Tensor, eps: torch.Tensor,
                scale: torch.Tensor) -> torch.Tensor:
    """The mean of the Langevin proposal from z: (C, B, D), with eps (C, B, 1)."""
    return z + 0.5 * (eps * scale) ** 2 * grad


def _langevin_proposal(state: SamplerState, generator: torch.Generator | None) -> torch.Tensor:
    """A draw z' (C, B, D) from the Langevin proposal at the current state."""
    eps = state.step_size.unsqueeze(-1)  # (C, B, 1)
    noise = torch.randn(state.z.shape, generator=generator, dtype=state.z.dtype,
                        device=state.z.device)
    return _drift_mean(state.z, state.grad, eps, state.scale) + eps * state.scale * noise


@dataclass(frozen=True)
class Langevin(Sampler):
    """The unadjusted Langevin algorithm (ULA): every proposal is taken.

    It has no Metropolis test, so its draws are biased by O(step_size^2): for a Gaussian target
    with standard deviation sigma (in scaled units) the chain's stationary variance is
    ``sigma^2 / (1 - eps^2 / (4 sigma^2))``. Choose ``step_size`` small against the target's
    narrowest direction; it is never adapted (there is no acceptance to adapt to).
    """

    step_size: float = 0.1

    def _propose(self, state: SamplerState, log_prob: LogProb,
                 generator: torch.Generator | None) -> SamplerState:
        z_new = _langevin_proposal(state, generator)  # (C, B, D)
        lp_new, grad_new = log_prob_and_grad(log_prob, z_new)
        ones = torch.ones_like(lp_new)
        return state.replace(z=z_new, log_prob=lp_new, grad=grad_new, accept_prob=ones,
                             accepted=ones.bool())


@dataclass(frozen=True)
class MALA(Sampler):
    """The Metropolis-adjusted Langevin algorithm (Roberts & Tweedie, 1996).

    A Langevin proposal accepted with the Metropolis-Hastings probability, so the chain leaves
    the target exactly invariant. During warm-up each target's step size (shared by its chains)
    is adapted by dual averaging towards ``target_accept``; the default 0.574 is the asymptotically
    optimal acceptance rate of Roberts & Rosenthal (1998), "Optimal scaling of discrete
    approximations to Langevin diffusions", JRSS-B 60(1).
    """

    step_size: float = 0.1
    target_accept: float = 0.574
    adapt_step_size: bool = True

    def _propose(self, state: SamplerState, log_prob: LogProb,
                 generator: torch.Generator | None) -> SamplerState:
        eps = state.step_size.unsqueeze(-1)  # (C, B, 1)
        z_new = _langevin_proposal(state, generator)  # (C, B, D)
        lp_new, grad_new = log_prob_and_grad(log_prob, z_new)
        log_q_forward = _log_q(z_new, _drift_mean(state.z, state.grad, eps, state.scale),
                               eps * state.scale)  # log q(z' | z), (C, B)
        log_q_backward = _log_q(state.z, _drift_mean(z_new, grad_new, eps, state.scale),
                                eps * state.scale)  # log q(z | z'), (C, B)
        log_ratio = lp_new - state.log_prob + log_q_backward - log_q_forward
        return metropolis(state, z_new, lp_new, grad_new, log_ratio, generator)


def _log_q(z: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Gaussian log-density up to the normaliser, which cancels in the MH ratio: (C, B)."""
    return -0.5 * (((z - mean) / std) ** 2).sum(-1)
