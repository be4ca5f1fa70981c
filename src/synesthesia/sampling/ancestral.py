"""The ancestral "sampler": the initial draws are the samples.

When ``z0`` already holds independent draws from the amortised posterior q(z | x_given) — what a
joint VAE does without MCMC — there is nothing to refine. ``Ancestral`` makes that choice
swappable with the MCMC samplers: ``step`` is the identity, so the chain stays at ``z0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from synesthesia.sampling.base import LogProb, Sampler, SamplerState, check_scale, check_z


@dataclass(frozen=True)
class Ancestral(Sampler):
    """Keep the initial draws: ``step`` returns the state unchanged (acceptance 1).

    ``log_prob`` may be ``None``; then the state's log-density is NaN and no target is
    evaluated. Run it with ``steps=1, warmup=0``: further steps only repeat ``z0``.
    """

    needs_grad = False  # a class attribute, not an option

    def init(self, z0: torch.Tensor, log_prob: LogProb | None,
             scale: torch.Tensor | float | None = None) -> SamplerState:
        if log_prob is not None:
            return super().init(z0, log_prob, scale)
        z0 = check_z(z0).detach()
        nan = torch.full(z0.shape[:-1], float("nan"), dtype=z0.dtype, device=z0.device)
        return SamplerState(z=z0, log_prob=nan, grad=None, step_size=torch.zeros_like(nan),
                            scale=check_scale(scale, z0), accept_prob=torch.ones_like(nan),
                            accepted=torch.ones_like(nan, dtype=torch.bool))

    def _propose(self, state: SamplerState, log_prob: LogProb | None,
                 generator: torch.Generator | None) -> SamplerState:
        return state.replace(accept_prob=torch.ones_like(state.accept_prob),
                             accepted=torch.ones_like(state.accepted))
