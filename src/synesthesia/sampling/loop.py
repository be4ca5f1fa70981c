"""The sampling loop, in one visible place: warm up (adapting step sizes), then collect draws.

    result = run_chains(build_sampler("hmc"), log_prob, z0, steps=500, warmup=200)
    result.samples        # (S, C, B, D) draws after warm-up
    result.acceptance     # (B,) mean acceptance probability per target
    result.ess, result.rhat  # (B, D) convergence diagnostics per target and coordinate
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from synesthesia.sampling import diagnostics
from synesthesia.sampling.base import LogProb, Sampler, SamplerState, SamplingError, check_z


@dataclass
class ChainResult:
    """Draws and diagnostics of one run of C chains on B targets in D dimensions."""

    samples: torch.Tensor  # (S, C, B, D) kept draws after warm-up, every `thin`-th step
    final_state: SamplerState  # the state after the last step (its z is (C, B, D))
    acceptance: torch.Tensor  # (B,) mean Metropolis acceptance probability after warm-up
    ess: torch.Tensor  # (B, D) effective sample size of the kept draws, pooled over chains
    rhat: torch.Tensor  # (B, D) rank-normalised split-R-hat across chains
    step_size: torch.Tensor  # (C, B) the step sizes used after warm-up

    @property
    def z(self) -> torch.Tensor:
        """The final position of every chain: (C, B, D)."""
        return self.final_state.z

    @property
    def mean_acceptance(self) -> float:
        return float(self.acceptance.mean())

    def summary(self) -> dict[str, float]:
        """Scalars worth logging: mean acceptance, smallest ESS, largest R-hat, median step."""
        return {"acceptance": self.mean_acceptance,
                "ess_min": float(self.ess.nan_to_num(nan=float("inf")).min()),
                "rhat_max": float(self.rhat.nan_to_num(nan=0.0).max()),
                "step_size_median": float(self.step_size.median())}


def run_chains(sampler: Sampler, log_prob: LogProb | None, z0: torch.Tensor, steps: int,
               warmup: int = 0, generator: torch.Generator | None = None, thin: int = 1,
               scale: torch.Tensor | float | None = None) -> ChainResult:
    """Run ``warmup`` adapting steps, then ``steps`` steps keeping every ``thin``-th draw.

    ``z0`` (C, B, D) starts C chains on each of B targets; ``log_prob`` maps (C, B, D) to (C, B).
    ``scale`` (broadcastable to (C, B, D), e.g. the amortised posterior's std) is the diagonal
    preconditioner. Pass a seeded ``generator`` (on z0's device) for reproducible draws.
    ``log_prob`` may be None for ``Ancestral`` only. ESS and R-hat need at least 4 kept draws
    and are NaN otherwise (and meaningless for constant chains, e.g. ``Ancestral``).
    """
    _check_counts(steps, warmup, thin)
    state = sampler.init(check_z(z0), log_prob, scale)
    for _ in range(warmup):
        state = sampler.step(state, log_prob, generator, adapt=True)
    state = sampler.end_warmup(state)

    kept = []  # each (C, B, D)
    accept_sum = torch.zeros_like(state.accept_prob)  # (C, B)
    for i in range(steps):
        state = sampler.step(state, log_prob, generator)
        accept_sum += state.accept_prob
        if (i + 1) % thin == 0:
            kept.append(state.z)
    samples = torch.stack(kept)  # (S, C, B, D)
    ess, rhat = _diagnose(samples)
    return ChainResult(samples=samples, final_state=state,
                       acceptance=(accept_sum / steps).mean(0), ess=ess, rhat=rhat,
                       step_size=state.step_size)


def _check_counts(steps: int, warmup: int, thin: int) -> None:
    if steps < 1 or warmup < 0 or thin < 1:
        raise SamplingError(f"need steps >= 1, warmup >= 0 and thin >= 1; got steps={steps}, "
                            f"warmup={warmup}, thin={thin}")
    if thin > steps:
        raise SamplingError(f"thin={thin} keeps no draw of steps={steps}; lower thin.")


def _diagnose(samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ESS and R-hat (B, D) of draws (S, C, B, D), NaN when there are too few draws."""
    if samples.shape[0] < 4:
        nan = torch.full(samples.shape[2:], float("nan"), dtype=torch.float64,
                         device=samples.device)
        return nan, nan.clone()
    return (diagnostics.effective_sample_size(samples),
            diagnostics.rank_split_rhat(samples))
