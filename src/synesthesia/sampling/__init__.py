"""MCMC samplers kept apart from models: any differentiable unnormalised log-density
``log_prob(z)``, z (C chains, B targets, D dims) -> (C, B), can be sampled.

    sampler = build_sampler("hmc", n_leapfrog=10)
    result = run_chains(sampler, log_prob, z0, steps=500, warmup=200, scale=q_std)

Samplers share one contract (``init`` / ``step`` / ``end_warmup`` on a :class:`SamplerState`), so
they swap like diffusers' schedulers: ``ancestral`` (keep the amortised draws), ``langevin``
(ULA), ``mala`` and ``hmc`` (both with dual-averaging step-size adaptation). Diagnostics live in
:mod:`synesthesia.sampling.diagnostics`; Metropolis-within-Gibbs imputation in
:mod:`synesthesia.sampling.gibbs`.
"""

from synesthesia.sampling.adaptation import DualAveraging
from synesthesia.sampling.ancestral import Ancestral
from synesthesia.sampling.base import LogProb, Sampler, SamplerState, SamplingError, log_prob_and_grad
from synesthesia.sampling.diagnostics import effective_sample_size, monte_carlo_se, rank_split_rhat, split_rhat
from synesthesia.sampling.gibbs import ImputationResult, metropolis_within_gibbs
from synesthesia.sampling.hmc import HMC
from synesthesia.sampling.langevin import MALA, Langevin
from synesthesia.sampling.loop import ChainResult, run_chains
from synesthesia.sampling.registry import SAMPLERS, build_sampler

__all__ = [
    "SAMPLERS", "HMC", "MALA", "Ancestral", "ChainResult", "DualAveraging", "ImputationResult",
    "Langevin", "LogProb", "Sampler", "SamplerState", "SamplingError", "build_sampler",
    "effective_sample_size", "log_prob_and_grad", "metropolis_within_gibbs", "monte_carlo_se",
    "rank_split_rhat", "run_chains", "split_rhat",
]
