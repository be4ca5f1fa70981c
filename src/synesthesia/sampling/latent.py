"""Latents of a latent-variable model for a generation request: by MCMC on its posterior, by
importance resampling, or from a fitted prior — for any model that offers the
:class:`LatentModel` methods (the joint VAE does); the model then decodes them.

The MCMC target is p(z) prod_m p(x_m | z)^w_m: ``p(z)`` a :class:`~synesthesia.sampling.densities.LatentDensity`
(N(0, I) by default; the aggregate posterior or a mixture fitted to it with ``prior``), the
likelihoods of the given modalities weighted as in training. Chains start from the amortised
posterior q(z | given) and are preconditioned by its standard deviation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import torch

from synesthesia.sampling.base import SamplingError
from synesthesia.sampling.densities import LatentDensity, StandardNormal
from synesthesia.sampling.loop import run_chains
from synesthesia.sampling.registry import build_sampler


@runtime_checkable
class LatentModel(Protocol):
    """What samplers and fitted priors need of a model with a latent z (B, latent_dim)."""

    latent_dim: int

    def sample_posterior(self, given: Mapping[str, torch.Tensor], generator: torch.Generator | None = None,
                         temperature: float = 1.0) -> torch.Tensor: ...

    def posterior_log_prob(self, z: torch.Tensor, given: Mapping[str, torch.Tensor]) -> torch.Tensor: ...

    def posterior_scale(self, given: Mapping[str, torch.Tensor]) -> torch.Tensor: ...

    def weighted_log_likelihood(self, z: torch.Tensor, given: Mapping[str, torch.Tensor],
                                weighted: bool = True) -> torch.Tensor: ...

    def row_posteriors(self, data: Mapping[str, torch.Tensor],
                       masks: Mapping[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]: ...

    def decode(self, z: torch.Tensor, targets: Sequence[str],
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]: ...


def log_joint(model: LatentModel, z: torch.Tensor, given: Mapping[str, torch.Tensor],
              prior: LatentDensity | None = None, weighted: bool = True) -> torch.Tensor:
    """Unnormalised log posterior log p(z) + sum_m w_m log p(x_m | z) for z (..., B, D) ->
    (..., B); leading axes (chains, proposals) are flattened through the decoders."""
    lead = z.shape[:-2]
    flat = z.reshape(-1, z.shape[-1])
    prior = prior if prior is not None else StandardNormal(model.latent_dim).to(z.device)
    return (prior.log_prob(flat) + model.weighted_log_likelihood(flat, given, weighted)).reshape(*lead, -1)


def mcmc_latents(model: LatentModel, given: Mapping[str, torch.Tensor], sampler: str, steps: int = 30,
                 warmup: int | None = None, chains: int = 1, generator: torch.Generator | None = None,
                 temperature: float = 1.0, prior: LatentDensity | None = None,
                 **sampler_options) -> tuple[torch.Tensor, dict]:
    """z (B, D) by ``steps`` MCMC steps (``warmup``, default half, adapt the step size) of
    ``chains`` chains per input; the first chain's last state, and the run's diagnostics."""
    if steps < 1 or chains < 1:
        raise SamplingError(f"MCMC needs steps >= 1 and chains >= 1; got steps={steps}, chains={chains}")
    b = len(next(iter(given.values())))
    z0 = torch.stack([model.sample_posterior(given, generator, temperature) for _ in range(chains)])
    result = run_chains(build_sampler(sampler, **sampler_options),
                        lambda z: log_joint(model, z, given, prior), z0, steps,
                        steps // 2 if warmup is None else warmup, generator, scale=model.posterior_scale(given))
    info = {"sampler": sampler, "steps": steps, "chains": chains, "targets": b,
            "prior": prior.name if prior is not None else "standard", **result.summary()}
    return result.z[0], info


def resampled_latents(model: LatentModel, given: Mapping[str, torch.Tensor], proposals: int,
                      generator: torch.Generator | None = None, temperature: float = 1.0,
                      prior: LatentDensity | None = None) -> torch.Tensor:
    """Sampling-importance-resampling: ``proposals`` draws from q(z | given) per input, one kept
    with probability proportional to p(z) prod_m p(x_m | z)^w_m / q(z | given)."""
    if proposals < 1:
        raise SamplingError(f"proposals must be at least 1, got {proposals}")
    zs = torch.stack([model.sample_posterior(given, generator, temperature) for _ in range(proposals)])
    log_w = log_joint(model, zs, given, prior) - model.posterior_log_prob(zs, given)          # (K, B)
    pick = torch.multinomial(torch.softmax(log_w.T, dim=-1), 1, generator=generator)[:, 0]
    return zs[pick, torch.arange(zs.shape[1], device=zs.device)]


def conditional_latents(model: LatentModel, given: Mapping[str, torch.Tensor],
                        generator: torch.Generator | None = None, temperature: float = 1.0,
                        sampler: str | None = None, steps: int | None = None, warmup: int | None = None,
                        chains: int | None = None, proposals: int | None = None,
                        prior: LatentDensity | None = None, **sampler_options) -> tuple[torch.Tensor, dict | None]:
    """Latents for ``given`` as the options ask: MCMC with ``sampler``, importance resampling
    with ``proposals`` > 1, else the amortised posterior. ``prior`` (a fitted density) needs
    one of the first two. Returns z (B, D) and the sampler's diagnostics (or None)."""
    if sampler_options and sampler in (None, "ancestral"):
        raise SamplingError(f"option(s) {', '.join(sampler_options)} need an MCMC sampler (sampler='hmc', "
                            "'mala' or 'langevin')")
    mcmc = sampler not in (None, "ancestral")
    if (steps is not None or chains is not None) and not mcmc:
        raise SamplingError("steps and chains are MCMC options; give sampler='hmc' (or 'mala', 'langevin') too")
    if prior is not None and not mcmc and not (proposals or 1) > 1:
        raise SamplingError(f"prior={prior.name!r} is the p(z) of MCMC or resampling; give sampler= "
                            "(e.g. 'hmc') or proposals= as well")
    if mcmc:
        return mcmc_latents(model, given, sampler, 30 if steps is None else steps, warmup,
                            1 if chains is None else chains, generator, temperature, prior, **sampler_options)
    if (proposals or 1) > 1:
        return resampled_latents(model, given, proposals, generator, temperature, prior), None
    return model.sample_posterior(given, generator, temperature), None
