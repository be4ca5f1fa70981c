"""The small training loop of the auxiliary networks (world oracles, contrastive scorers, the
caption expander, latent priors): AdamW over a fixed number of steps with a learning-rate
schedule, random minibatches by epoch, optional gradient clipping, a loss log and an optional
early stop. Generative models train through Lightning (:mod:`synesthesia.training`); these are
small enough that a plain loop is the clearest.

    summary = fit(net.parameters(), lambda idx: loss_of(x[idx], y[idx]), n=len(x), steps=2000,
                  batch_size=64, lr=3e-3, schedule="one-cycle")
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import torch

from synesthesia.errors import SynesthesiaError

SCHEDULES = ("one-cycle", "warmup-cosine", "constant")


@dataclass
class FitSummary:
    steps: int                          # optimiser steps taken
    seconds: float                      # wall-clock time of the loop
    final_loss: float                   # mean loss over the last tenth of the steps
    losses: list[float] = field(default_factory=list, repr=False)
    stopped_early: bool = False         # ``stop`` ended the loop before ``steps``

    def to_dict(self) -> dict:
        return {"steps": self.steps, "seconds": round(self.seconds, 2), "final_loss": self.final_loss,
                "stopped_early": self.stopped_early}


def lr_factor(schedule: str, step: int, steps: int, warmup: float) -> float:
    """The learning-rate multiplier at ``step`` of ``steps``.

    ``one-cycle``: cosine up from 1/25 over the first ``warmup`` share of the steps, then cosine
    down to 1/25e4 (Smith & Topin, 2019; PyTorch's OneCycleLR). ``warmup-cosine``: linear up
    over ``warmup`` steps (a count), then cosine down to 0.02. ``constant``: 1."""
    if schedule == "constant":
        return 1.0
    if schedule == "one-cycle":
        up = max(1.0, warmup * steps)
        if step < up:
            return 1 / 25 + (1 - 1 / 25) * 0.5 * (1 - math.cos(math.pi * step / up))
        p = (step - up) / max(1.0, steps - up)
        return 1 / 25e4 + (1 - 1 / 25e4) * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))
    if schedule == "warmup-cosine":
        warm = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
        return warm * max(0.02, 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, steps)))))
    raise SynesthesiaError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")


def minibatches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Random index batches of ``batch_size`` out of ``n``, epoch after epoch (the remainder of
    each epoch is dropped)."""
    if n < 1 or batch_size < 1:
        raise SynesthesiaError(f"need samples and a positive batch size; got {n} samples, batch {batch_size}")
    batch_size = min(batch_size, n)
    while True:
        order = torch.randperm(n, generator=generator)
        for lo in range(0, n - batch_size + 1, batch_size):
            yield order[lo:lo + batch_size]


def fit(parameters: Iterable[torch.nn.Parameter], loss_fn: Callable[[torch.Tensor], torch.Tensor],
        n: int, steps: int, batch_size: int, lr: float, schedule: str = "one-cycle",
        warmup: float = 0.15, weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999),
        clip: float | None = None, seed: int = 0,
        every: int = 0, on_every: Callable[[int, float], bool | None] | None = None) -> FitSummary:
    """Minimise ``loss_fn(indices)`` over ``steps`` minibatches of ``n`` samples.

    Every ``every`` steps ``on_every(step, loss)`` is called (progress lines, held-out checks);
    when it returns True the loop stops early. The same seed gives the same batches."""
    params = [p for p in parameters if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=betas)
    batches = minibatches(n, batch_size, torch.Generator().manual_seed(seed))
    t0, losses, stopped = time.perf_counter(), [], False
    step = 0
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * lr_factor(schedule, step, steps, warmup)
        loss = loss_fn(next(batches))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        losses.append(float(loss.detach()))
        if every and on_every is not None and (step + 1) % every == 0 and on_every(step + 1, losses[-1]):
            stopped = True
            break
    done = step + 1 if steps else 0
    tail = losses[-max(1, done // 10):] or [float("nan")]
    return FitSummary(done, time.perf_counter() - t0, sum(tail) / len(tail), losses, stopped)
