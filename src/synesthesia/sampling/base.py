"""The contract every sampler shares: the target, the state, and the ``init`` / ``step`` pair.

A *target* is any differentiable unnormalised log-density over a batch of independent targets,
each explored by several chains::

    log_prob(z) -> Tensor      # z: (C, B, D) chains x targets x dims  ->  (C, B)

Entry ``[c, b]`` must depend on ``z[c, b]`` only: the samplers take gradients of the summed
log-density, which equals the per-(chain, target) gradient exactly when this holds. For a joint
VAE, ``log_prob(z) = log p(z) + sum_m log p(x_m | z)`` with ``x_m`` the given modalities of
target ``b``.

Samplers are small option holders (like diffusers' schedulers); everything that changes during
a run lives in a :class:`SamplerState`, so one sampler object serves any number of runs::

    state = sampler.init(z0, log_prob, scale=posterior_std)
    for _ in range(steps):
        state = sampler.step(state, log_prob, generator)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch

from synesthesia.errors import SynesthesiaError
from synesthesia.sampling.adaptation import DualAveraging

LogProb = Callable[[torch.Tensor], torch.Tensor]


class SamplingError(SynesthesiaError):
    """A sampler, a target or a sampling loop was given something it cannot use."""


def check_z(z: torch.Tensor, name: str = "z0") -> torch.Tensor:
    """``z`` unchanged if it is a floating (C, B, D) tensor, else a :class:`SamplingError`."""
    if not isinstance(z, torch.Tensor) or z.dim() != 3 or not z.is_floating_point():
        got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise SamplingError(f"{name} must be a float tensor of shape (chains, targets, dims); "
                            f"got {got}. Add a chain axis with z.unsqueeze(0) for one chain.")
    return z


def evaluate(log_prob: LogProb, z: torch.Tensor) -> torch.Tensor:
    """``log_prob(z)`` without building a graph, shape-checked: (C, B, D) -> (C, B)."""
    with torch.no_grad():
        lp = log_prob(z)
    return _checked(lp, z).detach()


def log_prob_and_grad(log_prob: LogProb, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The log-density (C, B) and its gradient d log_prob / dz (C, B, D), by autograd.

    Works inside ``torch.no_grad()`` too; the returned tensors are detached. Gradients are taken
    with respect to ``z`` only, so model parameters get no ``.grad``.
    """
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        lp = _checked(log_prob(z), z)  # (C, B)
        (grad,) = torch.autograd.grad(lp.sum(), z)  # (C, B, D)
    return lp.detach(), grad.detach()


def _checked(lp: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    if not isinstance(lp, torch.Tensor) or lp.shape != z.shape[:-1]:
        got = tuple(lp.shape) if isinstance(lp, torch.Tensor) else type(lp).__name__
        raise SamplingError(f"log_prob(z) must return shape (chains, targets) = "
                            f"{tuple(z.shape[:-1])} for z of shape {tuple(z.shape)}; got {got}. "
                            "Sum over the latent dimension, not over chains or targets.")
    return lp


def check_scale(scale: torch.Tensor | float | None, z: torch.Tensor) -> torch.Tensor:
    """The diagonal preconditioning scale as a tensor broadcastable to ``z`` (C, B, D).

    ``scale`` is a standard deviation per coordinate, e.g. the amortised posterior's std of
    shape (B, D) or (C, B, D); ``None`` means ones.
    """
    if scale is None:
        return torch.ones((), dtype=z.dtype, device=z.device)
    scale = torch.as_tensor(scale, dtype=z.dtype, device=z.device).detach()
    try:
        torch.broadcast_shapes(scale.shape, z.shape)
    except RuntimeError:
        raise SamplingError(f"scale of shape {tuple(scale.shape)} does not broadcast to z of "
                            f"shape {tuple(z.shape)}; pass (B, D) or (C, B, D).") from None
    if not bool(torch.isfinite(scale).all()) or not bool((scale > 0).all()):
        raise SamplingError("scale must be finite and positive everywhere (it is a standard "
                            "deviation per coordinate).")
    return scale


@dataclass(frozen=True)
class SamplerState:
    """Everything a chain carries from one step to the next. Shapes for C chains, B targets.

    ``accept_prob`` is the Metropolis acceptance probability of the last proposal (1 for kernels
    without a correction) and ``accepted`` whether it was taken; both are (C, B).
    """

    z: torch.Tensor  # (C, B, D) current position
    log_prob: torch.Tensor  # (C, B) log_prob(z)
    grad: torch.Tensor | None  # (C, B, D) d log_prob / dz, None for gradient-free samplers
    step_size: torch.Tensor  # (C, B); adaptation gives the chains of a target one shared value
    scale: torch.Tensor  # broadcastable to (C, B, D): diagonal preconditioner (std per coordinate)
    accept_prob: torch.Tensor  # (C, B)
    accepted: torch.Tensor  # (C, B) bool
    adaptation: DualAveraging | None = None  # step-size adaptation statistics while warming up

    def replace(self, **changes) -> SamplerState:
        return dataclasses.replace(self, **changes)


class Sampler:
    """Base class: subclasses are frozen dataclasses of options and implement ``_propose``.

    ``step`` runs one transition for every (chain, target) at once. With ``adapt=True`` (during
    warm-up) samplers that have a Metropolis correction also update their step sizes by dual
    averaging; :meth:`end_warmup` then fixes each step size to its averaged value.

    Step sizes are adapted *per target*: the C chains of target b share one step size, adapted
    from their mean acceptance probability at each warm-up step. Pooling cuts the noise of the
    adaptation by about sqrt(C), so short warm-ups end near ``target_accept`` (one noisy chain
    per step size ends well above it), while targets, whose geometries differ, never share
    anything. After warm-up the chains are independent again, as R-hat assumes.
    """

    needs_grad: bool = True  # whether the state keeps d log_prob / dz
    step_size: float = 0.1
    target_accept: float = 0.65
    adapt_step_size: bool = False

    def __post_init__(self) -> None:
        if not self.step_size > 0:
            raise SamplingError(f"step_size must be positive; got {self.step_size}")
        if not 0.0 < self.target_accept < 1.0:
            raise SamplingError(f"target_accept must lie in (0, 1); got {self.target_accept}")

    def init(self, z0: torch.Tensor, log_prob: LogProb,
             scale: torch.Tensor | float | None = None) -> SamplerState:
        """The state at ``z0`` (C, B, D), with its log-density (and gradient if needed)."""
        z0 = check_z(z0).detach()
        if log_prob is None:
            raise SamplingError(f"{type(self).__name__} needs a log_prob(z) to sample; only the "
                                "ancestral sampler runs without one.")
        if self.needs_grad:
            lp, grad = log_prob_and_grad(log_prob, z0)
        else:
            lp, grad = evaluate(log_prob, z0), None
        step = torch.full(lp.shape, float(self.step_size), dtype=z0.dtype, device=z0.device)
        return SamplerState(z=z0, log_prob=lp, grad=grad, step_size=step,
                            scale=check_scale(scale, z0), accept_prob=torch.ones_like(lp),
                            accepted=torch.ones_like(lp, dtype=torch.bool))

    def step(self, state: SamplerState, log_prob: LogProb,
             generator: torch.Generator | None = None, adapt: bool = False) -> SamplerState:
        """One transition of every chain; adapts the step sizes when ``adapt`` is true."""
        state = self._propose(state, log_prob, generator)
        if adapt and self.adapt_step_size:
            stats = state.adaptation or DualAveraging.start(state.step_size.mean(0, keepdim=True),
                                                            self.target_accept)  # (1, B)
            stats, step = stats.update(state.accept_prob.mean(0, keepdim=True))  # pool chains
            state = state.replace(adaptation=stats, step_size=step.expand_as(state.step_size))
        return state

    def end_warmup(self, state: SamplerState) -> SamplerState:
        """Fix each step size to its dual-averaged value and drop the adaptation statistics."""
        if state.adaptation is None:
            return state
        step = state.adaptation.final_step_size().expand_as(state.step_size)  # (C, B)
        return state.replace(step_size=step, adaptation=None)

    def _propose(self, state: SamplerState, log_prob: LogProb,
                 generator: torch.Generator | None) -> SamplerState:
        raise NotImplementedError


def metropolis(state: SamplerState, z_new: torch.Tensor, lp_new: torch.Tensor,
               grad_new: torch.Tensor | None, log_ratio: torch.Tensor,
               generator: torch.Generator | None) -> SamplerState:
    """Accept each (chain, target)'s proposal with probability ``min(1, exp(log_ratio))``.

    A NaN or -inf ratio (a proposal that left the support or diverged) is a rejection.
    """
    log_ratio = torch.nan_to_num(log_ratio, nan=-torch.inf)  # (C, B)
    accept_prob = log_ratio.clamp(max=0.0).exp()  # (C, B)
    u = torch.rand(accept_prob.shape, generator=generator, dtype=accept_prob.dtype,
                   device=accept_prob.device)
    accepted = u < accept_prob  # (C, B)
    keep = accepted.unsqueeze(-1)  # (C, B, 1)
    grad = None if grad_new is None else torch.where(keep, grad_new, state.grad)
    return state.replace(z=torch.where(keep, z_new, state.z),
                         log_prob=torch.where(accepted, lp_new, state.log_prob), grad=grad,
                         accept_prob=accept_prob, accepted=accepted)
