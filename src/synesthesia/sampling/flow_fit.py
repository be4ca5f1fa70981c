"""Fitting a flow prior: the data it learns from and the flow-matching loop.

Each step draws rows, a latent x_1 from each row's posterior N(z_mean, exp(z_logvar)) (or its mean),
noise x_0 and a time t, drops a random subset of each row's conditions (every subset, the empty one
too, is trained) and regresses the velocity network on x_1 - x_0 at x_t = t x_1 + (1 - t) x_0,
through the shared loop of :mod:`synesthesia.loop` (the learning rate warms up, then decays on a
cosine over the steps); the weights used afterwards are an exponential moving average.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from synesthesia.config import ConfigError
from synesthesia.loop import fit


@dataclass
class FlowData:
    """What a flow prior learns from: N rows of latents and their conditions."""

    z_mean: torch.Tensor                     # (N, D) mean of each row's posterior q(z | all its modalities)
    z_logvar: torch.Tensor | None            # (N, D) its log-variance; None: the rows are points
    condition: torch.Tensor                  # (M, N, C) each condition modality's vector per row
    mask: torch.Tensor                       # (M, N) bool: the row has that modality
    variants: dict[int, torch.Tensor] = field(default_factory=dict)  # modality row -> (N, C) alternatives (partial captions)

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

    steps: int = 2000                        # updates (the learning rate decays over them)
    minutes: float | None = None             # optional wall-clock budget: training stops early when it is spent
    batch_size: int = 256                    # rows per update
    lr: float = 1e-3                         # peak AdamW learning rate
    weight_decay: float = 0.0                # AdamW weight decay
    warmup_steps: int = 200                  # linear warm-up of the learning rate
    ema_decay: float = 0.999                 # decay of the weight average used after fitting
    keep_p: float = 0.5                      # chance that each present condition is kept (subset dropout)
    empty_p: float = 0.1                     # extra chance that a row keeps no condition (the unconditional prior)
    variant_p: float = 0.3                   # chance that a condition with variants uses one (a partial caption)
    latent: str = "sample"                   # x_1: "sample" from each row's posterior or its "mean"
    time_sampling: str = "uniform"           # t ~ "uniform" on [0, 1] or "logit_normal" (sigmoid of N(0, 1))
    gradient_clip: float = 1.0               # clip of the gradient norm
    seed: int = 0                            # seed of row, noise, time and dropout draws
    log_every: int = 1000                    # steps between progress lines

    def __post_init__(self) -> None:
        if self.latent not in ("sample", "mean"):
            raise ConfigError(f"flow training: latent must be 'sample' or 'mean', got {self.latent!r}")
        if self.time_sampling not in ("uniform", "logit_normal"):
            raise ConfigError("flow training: time_sampling must be 'uniform' or 'logit_normal', "
                              f"got {self.time_sampling!r}")
        if self.steps < 1 or self.batch_size < 1 or self.log_every < 1:
            raise ConfigError(f"flow training: steps, batch_size and log_every must be at least 1; got "
                              f"{self.steps}, {self.batch_size}, {self.log_every}")
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


def draw_batch(flow, data: FlowData, train: FlowTrainConfig, idx: torch.Tensor, g: torch.Generator):
    """The training batch of rows ``idx``: (x_t, t, condition, mask, target velocity), standardised."""
    b, device = len(idx), flow.z_shift.device
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
    """Train ``flow`` (a :class:`~synesthesia.sampling.flow.FlowPrior`) on ``data`` with the
    shared loop (:func:`synesthesia.loop.fit`: AdamW, linear warm-up then cosine decay over
    ``train.steps``), keeping an exponential moving average of the weights that the flow uses
    afterwards. Returns the summary (steps, wall-clock and CPU seconds, mean loss per
    ``log_every`` steps)."""
    g = torch.Generator().manual_seed(train.seed)
    torch.manual_seed(train.seed)
    with torch.no_grad():
        standardise(flow, data)
    net = flow.net.train()
    ema = copy.deepcopy(net).eval().requires_grad_(False)
    params, ema_params = list(net.parameters()), list(ema.parameters())
    budget = 60.0 * train.minutes if train.minutes else None
    t0, cpu0, losses, recent = time.perf_counter(), time.process_time(), [], []

    def loss_of(idx: torch.Tensor) -> torch.Tensor:
        xt, t, cond, mask, target = draw_batch(flow, data, train, idx, g)
        return (net(xt, t, cond, mask) - target).square().mean()

    def after_step(step: int, loss: float) -> bool:
        with torch.no_grad():
            decay = min(train.ema_decay, step / (9 + step))
            torch._foreach_lerp_(ema_params, params, 1 - decay)
        recent.append(loss)
        if step % train.log_every == 0:
            losses.append(sum(recent) / len(recent))
            recent.clear()
            if log:
                log(f"flow prior: step {step}, loss {losses[-1]:.4f}, {time.perf_counter() - t0:.0f} s")
        return budget is not None and time.perf_counter() - t0 >= budget

    done = fit(params, loss_of, n=len(data.z_mean), steps=train.steps, batch_size=train.batch_size, lr=train.lr,
               schedule="warmup-cosine", warmup=train.warmup_steps, weight_decay=train.weight_decay,
               clip=train.gradient_clip, seed=train.seed, every=1, on_every=after_step)
    flow.net.load_state_dict(ema.state_dict())
    flow.eval()
    return {"steps": done.steps, "seconds": round(time.perf_counter() - t0, 1),
            "cpu_seconds": round(time.process_time() - cpu0, 1), "rows": len(data.z_mean),
            "loss": done.final_loss, "losses": losses, "stopped_by_minutes": done.stopped_early,
            "train": {k: getattr(train, k) for k in train.__dataclass_fields__}}
