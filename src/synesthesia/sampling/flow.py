"""A learned latent prior: a conditional rectified flow (flow matching) over a latent z, as a
density object with ``fit`` / ``sample`` / ``log_prob`` / ``save`` / ``load``.

The flow carries N(0, I) noise (t = 0) to the data (t = 1) along straight paths,
x_t = t x_1 + (1 - t) x_0, with a velocity network v(x_t, t, c) trained to regress x_1 - x_0
(Liu et al. 2022; Lipman et al. 2022). The condition c is any subset of named condition
vectors (a joint VAE's unimodal experts); subsets are dropped at random during ``fit`` so every
subset, the empty one too, is modelled, and classifier-free guidance (Ho & Salimans 2022) mixes
the conditional and unconditional velocities when sampling:
v = v(∅) + guidance * (v(c) - v(∅)), so ``guidance=0`` is the unconditional prior and 1 the
conditional one. Sampling integrates the ODE (Euler or Heun) or an SDE with the same marginals;
``log_prob`` integrates the instantaneous change of variables backwards with the exact
divergence (D backward rows per sample), so the flow can serve as an MCMC prior.

    flow = FlowPrior(FlowPriorConfig(latent_dim=48, modalities=["image", "text"], condition_dim=96))
    flow.fit(FlowData(z_mean, z_logvar, condition, mask), FlowTrainConfig(steps=5000))
    z = flow.sample(conditions={"text": experts_of_text}, guidance=1.0, steps=50)
    synesthesia.runs.save_flow_prior(run, flow)    # RUN/priors/flow.safetensors + flow.json
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from synesthesia.errors import SynesthesiaError
from synesthesia.sampling.flow_fit import FlowData, FlowTrainConfig, fit_flow
from synesthesia.sampling.flow_net import FlowPriorConfig, VelocityNet

METHODS = ("euler", "heun", "sde")
LOG_2PI = math.log(2 * math.pi)


class FlowPriorError(SynesthesiaError):
    """A flow prior cannot be built, fitted, loaded or asked this; the message says what to do."""


class FlowPrior(nn.Module):
    """Conditional rectified flow over z (D dims) with condition rows for ``config.modalities``.
    Latents and conditions are standardised by statistics of the data given to :meth:`fit`."""

    def __init__(self, config: FlowPriorConfig) -> None:
        super().__init__()
        self.config = config
        m, c, d = len(config.modalities), config.condition_dim, config.latent_dim
        self.net = VelocityNet(config)
        self.register_buffer("z_shift", torch.zeros(d))
        self.register_buffer("z_scale", torch.ones(d))
        self.register_buffer("cond_shift", torch.zeros(m, c))
        self.register_buffer("cond_scale", torch.ones(m, c))
        self.summary: dict = {}                   # what fit reported (saved in flow.json)

    # -- conditions ----------------------------------------------------------------------------
    def conditions(self, given: Mapping[str, torch.Tensor] | None, batch: int | None = None,
                   masks: Mapping[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardised condition rows (M, B, C) and presence mask (M, B) from ``given``
        (modality -> (B, C)); modalities not in ``given`` are absent, ``masks`` (modality -> bool
        (B,)) marks per-sample absence."""
        given = dict(given or {})
        unknown = [m for m in given if m not in self.config.modalities]
        if unknown:
            raise FlowPriorError(f"this flow prior has no condition {unknown}; it has {self.config.modalities}")
        sizes = {len(x) for x in given.values()} | ({batch} if batch is not None else set())
        if len(sizes) != 1:
            raise FlowPriorError("give the number of samples (n) for an unconditional draw, and conditions "
                                 f"of one batch size; got sizes {sorted(sizes)}")
        b, device = sizes.pop(), self.z_shift.device
        cond = torch.zeros(len(self.config.modalities), b, self.config.condition_dim, device=device)
        mask = torch.zeros(len(self.config.modalities), b, dtype=torch.bool, device=device)
        for i, m in enumerate(self.config.modalities):
            if m in given:
                x = given[m].to(device).float()
                if x.shape[-1] != self.config.condition_dim:
                    raise FlowPriorError(f"condition {m!r} has {x.shape[-1]} numbers per sample; this flow "
                                         f"takes {self.config.condition_dim}")
                cond[i] = (x - self.cond_shift[i]) / self.cond_scale[i]
                mask[i] = True if masks is None or m not in masks else masks[m].to(device)
        return cond, mask

    def velocity(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor,
                 guidance: float = 1.0) -> torch.Tensor:
        """Guided velocity in standardised coordinates: v(∅) + guidance (v(c) - v(∅))."""
        if guidance == 1.0 or not bool(mask.any()):
            return self.net(x, t, cond, mask)
        none = torch.zeros_like(mask)
        if guidance == 0.0:
            return self.net(x, t, cond, none)
        both = self.net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, cond], 1),
                        torch.cat([mask, none], 1))
        v_c, v_0 = both.chunk(2)
        return v_0 + guidance * (v_c - v_0)

    # -- sampling -------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int | None = None, conditions: Mapping[str, torch.Tensor] | None = None,
               masks: Mapping[str, torch.Tensor] | None = None, guidance: float = 1.0, steps: int = 50,
               method: str = "heun", generator: torch.Generator | None = None, temperature: float = 1.0,
               noise: float = 1.0) -> torch.Tensor:
        """z (B, D): ``n`` unconditional draws, or one per row of ``conditions``. ``method``:
        ``euler`` / ``heun`` (ODE; deterministic given the starting noise) or ``sde``
        (Euler-Maruyama with drift v + noise/2 (t v - x) and diffusion sqrt(noise (1 - t)), the
        same marginals). ``temperature`` scales the starting noise."""
        if method not in METHODS:
            raise FlowPriorError(f"method {method!r} unknown; choose from {', '.join(METHODS)}")
        if steps < 1:
            raise FlowPriorError(f"steps must be at least 1, got {steps}")
        cond, mask = self.conditions(conditions, n, masks)
        b, device = cond.shape[1], self.z_shift.device
        x = temperature * torch.randn(b, self.config.latent_dim, generator=generator, device=device)
        h = 1.0 / steps
        for k in range(steps):
            t = torch.full((b,), k * h, device=device)
            v = self.velocity(x, t, cond, mask, guidance)
            if method == "euler":
                x = x + h * v
            elif method == "heun":
                v2 = self.velocity(x + h * v, t + h, cond, mask, guidance)
                x = x + 0.5 * h * (v + v2)
            else:
                drift = v + 0.5 * noise * (t[:, None] * v - x)
                eps = torch.randn(x.shape, generator=generator, device=device)
                x = x + h * drift + math.sqrt(noise * h) * (1 - t[:, None]).sqrt() * eps
        return x * self.z_scale + self.z_shift

    # -- density --------------------------------------------------------------------------------
    def log_prob(self, z: torch.Tensor, conditions: Mapping[str, torch.Tensor] | None = None,
                 masks: Mapping[str, torch.Tensor] | None = None, guidance: float = 1.0,
                 steps: int = 20, method: str = "heun") -> torch.Tensor:
        """log p(z | conditions) (B,) by the instantaneous change of variables,
        log p_1(z) = log N(x_0) - int_0^1 div v(x_t, t) dt, integrated from z back to noise with
        the exact divergence. Differentiable in z (for MCMC) when z requires grad."""
        if method not in ("euler", "heun"):
            raise FlowPriorError(f"log_prob integrates an ODE: method 'euler' or 'heun', not {method!r}")
        cond, mask = self.conditions(conditions, len(z), masks)
        x = (z - self.z_shift) / self.z_scale
        integral = torch.zeros(len(z), device=z.device)
        h = 1.0 / steps
        for k in range(steps, 0, -1):
            t = torch.full((len(z),), k * h, device=z.device)
            v, div = self._velocity_and_divergence(x, t, cond, mask, guidance)
            if method == "euler":
                x, integral = x - h * v, integral + h * div
                continue
            v2, div2 = self._velocity_and_divergence(x - h * v, t - h, cond, mask, guidance)
            x, integral = x - 0.5 * h * (v + v2), integral + 0.5 * h * (div + div2)
        log_base = -0.5 * (x.square() + LOG_2PI).sum(-1)
        return log_base - integral - self.z_scale.log().sum()

    def _velocity_and_divergence(self, x, t, cond, mask, guidance) -> tuple[torch.Tensor, torch.Tensor]:
        """v (B, D) and its exact divergence (B,): the batch is repeated D times so one backward
        pass gives every diagonal entry of the Jacobian."""
        b, d = x.shape
        keep_graph = torch.is_grad_enabled() and x.requires_grad
        with torch.enable_grad():
            xr = (x if keep_graph else x.detach()).unsqueeze(1).expand(b, d, d).reshape(b * d, d)
            if not keep_graph:
                xr.requires_grad_(True)
            rep = lambda a, dim: a.repeat_interleave(d, dim=dim)
            v = self.velocity(xr, rep(t, 0), rep(cond, 1), rep(mask, 1), guidance).reshape(b, d, d)
            diag = v.diagonal(dim1=1, dim2=2)                                  # (B, D): v_i at copy i
            grad = torch.autograd.grad(diag.sum(), xr, create_graph=keep_graph)[0].reshape(b, d, d)
        div = grad.diagonal(dim1=1, dim2=2).sum(-1)
        v0 = v[:, 0]
        return (v0, div) if keep_graph else (v0.detach(), div.detach())

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, data: FlowData, train: FlowTrainConfig | None = None, log=None) -> dict:
        """Standardise by ``data``'s statistics and train the velocity network on it (see
        :func:`synesthesia.sampling.flow_fit.fit_flow`); returns and keeps the training summary."""
        train = train or FlowTrainConfig()
        if data.condition.shape[0] != len(self.config.modalities):
            raise FlowPriorError(f"the data has {data.condition.shape[0]} condition rows; this flow has "
                                 f"{len(self.config.modalities)} ({self.config.modalities})")
        if data.z_mean.shape[-1] != self.config.latent_dim:
            raise FlowPriorError(f"the data's latents have {data.z_mean.shape[-1]} dims; this flow models "
                                 f"{self.config.latent_dim}")
        self.summary = fit_flow(self, data, train, log)
        return self.summary

    # -- persistence (the run folder's layout is synesthesia.runs' business) -----------------------
    def meta(self) -> dict:
        """What rebuilds the flow from its weights (:meth:`from_state`): its config and fit summary."""
        return {"density": "flow", "config": self.config.to_dict(), "summary": self.summary}

    @classmethod
    def from_state(cls, meta: dict, state: Mapping[str, torch.Tensor], where: str = "the saved flow prior"
                   ) -> FlowPrior:
        """The flow described by ``meta`` (:meth:`meta`) with the weights ``state``."""
        try:
            flow = cls(FlowPriorConfig.from_dict(meta["config"]))
        except (KeyError, TypeError) as err:
            raise FlowPriorError(f"{where} has no valid flow config ({err}); train the prior again") from None
        expected = flow.state_dict()
        wrong = sorted(set(expected) ^ set(state)) + [k for k in expected if k in state and
                                                       tuple(state[k].shape) != tuple(expected[k].shape)]
        if wrong:
            raise FlowPriorError(f"{where}: the weights do not fit the config ({', '.join(wrong[:5])}"
                                 f"{' ...' if len(wrong) > 5 else ''}); train the prior again")
        flow.load_state_dict(dict(state))
        flow.summary = meta.get("summary", {})
        return flow.eval()
