"""Metropolis-within-Gibbs imputation of missing data with a latent variable model.

Mattei & Frellsen (2018), "Leveraging the exact likelihood of deep latent variable models",
NeurIPS, Algorithm 1. The chain targets ``p(z, x_mis | x_obs)`` and alternates:

1. ``z | x_obs, x_mis``: an independence Metropolis-Hastings step whose proposal is the amortised
   encoder ``q(z | x_obs, x_mis)``; ``z~`` is accepted with probability
   ``min(1, w(z~) / w(z))``, ``w(z) = p(z) p(x_obs, x_mis | z) / q(z | x_obs, x_mis)``.
2. ``x_mis | z``: an exact draw from the decoder ``p(x_mis | z)``.

Step 2 assumes the decoder factorises, ``p(x_obs, x_mis | z) = p(x_obs | z) p(x_mis | z)``, as a
multimodal VAE's does across modalities. Unlike pseudo-Gibbs sampling (Rezende et al., 2014),
which always takes the encoder's draw, the Metropolis test makes the chain exact for any encoder
whose support covers the posterior's.

Everything is batched: ``z`` is (..., D) and every log-density returns the leading shape (...),
one independent chain per entry (repeat ``x_obs`` to run several chains per observation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from synesthesia.sampling.base import SamplingError

Gen = torch.Generator | None


@dataclass
class ImputationResult:
    """Kept draws of a Metropolis-within-Gibbs run; N is the chains' batch shape."""

    x_mis: torch.Tensor  # (S, *N, ...) imputations of the missing part after warm-up
    z: torch.Tensor  # (S, *N, D) latent draws after warm-up
    acceptance: torch.Tensor  # (*N,) mean acceptance probability of the z-step after warm-up

    @property
    def mean_acceptance(self) -> float:
        return float(self.acceptance.mean())


def metropolis_within_gibbs(
        x_obs: torch.Tensor, x_mis_init: torch.Tensor,
        log_prior: Callable[[torch.Tensor], torch.Tensor],
        log_likelihood: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
        proposal_sample_and_log_q: Callable[[torch.Tensor, torch.Tensor, Gen],
                                            tuple[torch.Tensor, torch.Tensor]],
        proposal_log_q: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
        sample_missing: Callable[[torch.Tensor, Gen], torch.Tensor],
        steps: int, warmup: int = 0, generator: Gen = None) -> ImputationResult:
    """Impute ``x_mis`` given ``x_obs`` by Metropolis-within-Gibbs (Mattei & Frellsen, 2018).

    The callables, with z (*N, D) and log-densities (*N,):

    * ``log_prior(z)``: log p(z).
    * ``log_likelihood(z, x_obs, x_mis)``: log p(x_obs, x_mis | z).
    * ``proposal_sample_and_log_q(x_obs, x_mis, generator) -> (z, log_q)``: a draw from the
      encoder q(z | x_obs, x_mis) and its log-density.
    * ``proposal_log_q(z, x_obs, x_mis)``: log q(z | x_obs, x_mis) of the *current* z, which the
      Metropolis-Hastings ratio of an independence proposal needs; the encoder's input has
      changed since z was drawn, so the value saved at proposal time would be wrong.
    * ``sample_missing(z, generator)``: a draw of x_mis from the decoder p(x_mis | z).

    ``x_mis_init`` starts the chain (e.g. zeros, or a pseudo-Gibbs draw). Runs ``warmup`` then
    ``steps`` iterations and keeps every draw after warm-up.
    """
    if steps < 1 or warmup < 0:
        raise SamplingError(f"need steps >= 1 and warmup >= 0; got steps={steps}, "
                            f"warmup={warmup}")
    with torch.no_grad():
        x_mis = x_mis_init
        z, _ = proposal_sample_and_log_q(x_obs, x_mis, generator)  # the first z is taken as is
        kept_x, kept_z, accept_sum = [], [], None
        for t in range(warmup + steps):
            z, accept_prob = _z_step(z, x_obs, x_mis, log_prior, log_likelihood,
                                     proposal_sample_and_log_q, proposal_log_q, generator)
            x_mis = sample_missing(z, generator)  # exact draw from p(x_mis | z)
            if t >= warmup:
                kept_x.append(x_mis)
                kept_z.append(z)
                accept_sum = accept_prob if accept_sum is None else accept_sum + accept_prob
    return ImputationResult(x_mis=torch.stack(kept_x), z=torch.stack(kept_z),
                            acceptance=accept_sum / steps)


def _z_step(z, x_obs, x_mis, log_prior, log_likelihood, proposal_sample_and_log_q,
            proposal_log_q, generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One independence Metropolis-Hastings update of z (*N, D); returns the new z and the
    acceptance probability (*N,)."""
    z_new, log_q_new = proposal_sample_and_log_q(x_obs, x_mis, generator)
    log_q_old = proposal_log_q(z, x_obs, x_mis)

    def log_weight(z, log_q):  # log p(z) + log p(x_obs, x_mis | z) - log q(z | ...): (*N,)
        terms = (log_prior(z), log_likelihood(z, x_obs, x_mis), log_q)
        if any(term.shape != z.shape[:-1] for term in terms):
            raise SamplingError(
                f"log_prior, log_likelihood and the proposal's log q must each return shape "
                f"{tuple(z.shape[:-1])} for z of shape {tuple(z.shape)}; got "
                f"{[tuple(term.shape) for term in terms]}. Sum over data and latent dims only.")
        return terms[0] + terms[1] - terms[2]

    log_ratio = torch.nan_to_num(log_weight(z_new, log_q_new) - log_weight(z, log_q_old),
                                 nan=-torch.inf)
    accept_prob = log_ratio.clamp(max=0.0).exp()  # (*N,)
    u = torch.rand(accept_prob.shape, generator=generator, dtype=accept_prob.dtype,
                   device=accept_prob.device)
    accepted = (u < accept_prob).unsqueeze(-1)  # (*N, 1)
    return torch.where(accepted, z_new, z), accept_prob
