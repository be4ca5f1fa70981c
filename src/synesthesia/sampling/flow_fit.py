"""Fitting a flow prior: the data it learns from and the flow-matching loop.

Each step draws rows, a latent x_1 from each row's posterior N(z_mean, exp(z_logvar)) (or its mean),
noise x_0 and a time t, drops a random subset of each row's conditions (every subset, the empty one
too, is trained) and regresses the velocity network on x_1 - x_0 at x_t = t x_1 + (1 - t) x_0. The
learning rate warms up, then decays on a cosine over the step budget (or the time budget, whichever
is nearer its end); the weights used afterwards are an exponential moving average.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from synesthesia.config import ConfigError


@dataclass
class FlowData:
    """What a flow prior learns from: N rows of latents and their conditions."""

    z_mean: torch.Tensor                     # (N, D) mean of each row's posterior q(z | all its modalities)
    z_logvar: torch.Tensor | None            # (N, D) its log-variance; None: the rows are points
    condition: torch.Tensor                  # (M, N, C) each condition modality's vector per row
    mask: torch.Tensor                       # (M, N) bool: the row has that modality
    variants: dict[int, torch.Tensor] = field(default_factory=dict)  # modality row -> (N, C) alternative vectors (a partial caption)

    def __post_init__(self) -> None:
        n = len(self.z_mean)
        shapes = [self.condition.shape[1], self.mask.shape[1], *(len(v) for v in self.variants.values())]
        if self.z_logvar is not None:
            shapes.append(len(self.z_logvar))
        if any(s != n for s in shapes) or n < 2:
            raise ConfigError(f"flow data: every part needs the same N >= 2 rows; got {n} latents and {shapes}")


@dataclass
class FlowTrainConfig:
    """How a flow prior is fitted."""

    steps: int = 20000                       # update budget (the default stop)
    minutes: float | None = None             # optional wall-clock budget; training stops at whichever comes first
    batch_size: int = 256                    # rows per update
    lr: float = 1e-3                         # peak AdamW learning rate
    weight_decay: float = 0.0                # AdamW weight decay
    warmup_steps: int = 200                  # linear warm-up of the learning rate
    ema_decay: float = 0.999                 # decay of the weight average used after fitting
    keep_p: float = 0.5                      # chance that each present condition is kept (subset dropout)
    empty_p: float = 0.1                     # extra chance that a row keeps no condition (the unconditional prior)
    variant_p: float = 0.3                   # chance that a condition with variants uses its variant (a partial caption)
    latent: str = "sample"                   # x_1: "sample" from each row's posterior or its "mean"
    time_sampling: str = "uniform"           # t ~ "uniform" on [0, 1] or "logit_normal" (sigmoid of N(0, 1): more weight mid-path)
    gradient_clip: float = 1.0               # clip of the gradient norm
    seed: int = 0                            # seed of row, noise, time and dropout draws
    log_every: int = 1000                    # steps between progress lines

    def __post_init__(self) -> None:
        if self.latent not in ("sample", "mean"):
            raise ConfigError(f"flow training: latent must be 'sample' or 'mean', got {self.latent!r}")
        if self.time_sampling not in ("uniform", "logit_normal"):
            raise ConfigError(f"flow training: time_sampling must be 'uniform' or 'logit_normal', got {self.time_sampling!r}")
        if self.steps < 1 and not self.minutes:
            raise ConfigError("flow training: give steps >= 1 or a minutes budget")
        for name in ("keep_p", "empty_p", "variant_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"flow training: {name} must be in [0, 1], got {getattr(self, name)}")


def standardise(flow, data: FlowData) -> None:
    """Set the flow's latent and condition standardisation from the data's statistics."""
    z = data.z_mean if data.z_logvar is None else torch.cat([data.z_mean, data.z_mean + torch.randn_like(
        data.z_mean) * (0.5 * data.z_logvar).exp()])
    flow.z_shift.copy_(z.mean(0))
    flow.z_scale.copy_(z.std(0).clamp_min(1e-3))
    for i in range(data.condition.shape[0]):
        rows = data.condition[i][data.mask[i]]
        if len(rows) >= 2:
            flow.cond_shift[i].copy_(rows.mean(0))
            flow.cond_scale[i].copy_(rows.std(0).clamp_min(1e-3))


def draw_batch(flow, data: FlowData, train: FlowTrainConfig, g: torch.Generator):
    """One training batch: (x_t, t, condition, mask, target velocity), standardised."""
    n, b, device = len(data.z_mean), train.batch_size, flow.z_shift.device
    idx = torch.randint(0, n, (b,), generator=g)
    z = data.z_mean[idx]
    if train.latent == "sample" and data.z_logvar is not None:
        z = z + torch.randn(z.shape, generator=g) * (0.5 * data.z_logvar[idx]).exp()
    x1 = ((z.to(device) - flow.z_shift) / flow.z_scale)
    x0 = torch.randn(x1.shape, generator=g).to(device)
    t = torch.rand(b, generator=g) if train.time_sampling == "uniform" else torch.sigmoid(torch.randn(b, generator=g))
    t = t.to(device)
    cond = data.condition[:, idx].clone()
    for i, alt in data.variants.items():
        swap = torch.rand(b, generator=g) < train.variant_p
        cond[i, swap] = alt[idx][swap]
    cond = (cond.to(device) - flow.cond_shift[:, None]) / flow.cond_scale[:, None]
    keep = torch.rand(data.mask.shape[0], b, generator=g) < train.keep_p
    keep &= ~(torch.rand(b, generator=g) < train.empty_p)[None]
    mask = (data.mask[:, idx] & keep).to(device)
    xt = t[:, None] * x1 + (1 - t[:, None]) * x0
    return xt, t, cond, mask, x1 - x0


def fit_flow(flow, data: FlowData, train: FlowTrainConfig,
             log: Callable[[str], None] | None = None) -> dict:
    """Train ``flow`` (a :class:`~synesthesia.sampling.flow.FlowPrior`) on ``data``; returns
    the summary (steps, wall-clock and CPU seconds, loss of the last ``log_every`` steps)."""
    g = torch.Generator().manual_seed(train.seed)
    torch.manual_seed(train.seed)
    with torch.no_grad():
        standardise(flow, data)
    net = flow.net.train()
    ema = copy.deepcopy(net).eval().requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=train.lr, weight_decay=train.weight_decay, foreach=True)
    params, ema_params = list(net.parameters()), list(ema.parameters())
    budget = 60.0 * train.minutes if train.minutes else None
    steps = train.steps if train.steps >= 1 else 10**9
    t0, cpu0, step, losses, recent = time.perf_counter(), time.process_time(), 0, [], []
    while step < steps:
        elapsed = time.perf_counter() - t0
        if budget is not None and elapsed >= budget:
            break
        progress = max(step / steps, elapsed / budget if budget else 0.0)
        for group in opt.param_groups:
            group["lr"] = train.lr * min(1.0, (step + 1) / max(1, train.warmup_steps)) \
                * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        xt, t, cond, mask, target = draw_batch(flow, data, train, g)
        loss = (net(xt, t, cond, mask) - target).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), train.gradient_clip)
        opt.step()
        with torch.no_grad():
            decay = min(train.ema_decay, (1 + step) / (10 + step))
            torch._foreach_lerp_(ema_params, params, 1 - decay)
        step += 1
        recent.append(loss.detach().item())
        if step % train.log_every == 0:
            losses.append(sum(recent) / len(recent))
            recent = []
            if log:
                log(f"flow prior: step {step}, loss {losses[-1]:.4f}, {time.perf_counter() - t0:.0f} s")
    flow.net.load_state_dict(ema.state_dict())
    flow.eval()
    last = recent or [float("nan")]
    return {"steps": step, "seconds": round(time.perf_counter() - t0, 1),
            "cpu_seconds": round(time.process_time() - cpu0, 1), "rows": len(data.z_mean),
            "loss": losses[-1] if losses else sum(last) / len(last), "losses": losses,
            "train": {k: getattr(train, k) for k in train.__dataclass_fields__}}
