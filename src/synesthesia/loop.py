"""The small training loop of the auxiliary networks (world oracles, contrastive scorers, the
caption expander, latent priors): AdamW over a fixed number of steps with a learning-rate
schedule, random minibatches by epoch, optional gradient clipping, a loss log and an optional
early stop. Generative models train through Lightning (:mod:`synesthesia.training`); these are
small enough that a plain loop is the clearest.

    summary = fit(net.parameters(), lambda idx: loss_of(x[idx], y[idx]), n=len(x), steps=2000,
                  batch_size=64, lr=3e-3, schedule="one-cycle")
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from synesthesia.checkpoint import (
    CheckpointError,
    Interrupted,
    StopSignals,
    load_nested,
    random_state,
    save_nested,
    set_random_state,
)
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


class Minibatches:
    """Random index batches of ``batch_size`` out of ``n``, epoch after epoch (the remainder of
    each epoch is dropped). Its state (the generator's state at the start of the epoch and the
    batches of it taken) resumes the same sequence."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator) -> None:
        if n < 1 or batch_size < 1:
            raise SynesthesiaError(f"need samples and a positive batch size; got {n} samples, batch {batch_size}")
        self.n, self.batch_size, self.generator = n, min(batch_size, n), generator
        self.epoch_start, self.taken, self.order = generator.get_state(), 0, None

    def __iter__(self) -> Minibatches:
        return self

    def __next__(self) -> torch.Tensor:
        per_epoch = self.n // self.batch_size
        if self.order is None or self.taken >= per_epoch:
            self.epoch_start, self.taken = self.generator.get_state(), 0
            self.order = torch.randperm(self.n, generator=self.generator)
        lo = self.taken * self.batch_size
        self.taken += 1
        return self.order[lo:lo + self.batch_size]

    def state_dict(self) -> dict:
        return {"epoch_start": self.epoch_start, "taken": self.taken}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["epoch_start"])
        self.epoch_start, self.taken = state["epoch_start"], int(state["taken"])
        self.order = torch.randperm(self.n, generator=self.generator)


def minibatches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Random index batches of ``batch_size`` out of ``n`` (see :class:`Minibatches`)."""
    return Minibatches(n, batch_size, generator)


@dataclass
class Resumable:
    """Where :func:`fit` keeps its state: a checkpoint file written every ``every`` steps, at the
    end and on SIGTERM/SIGINT (then :class:`~synesthesia.checkpoint.Interrupted` is raised), and
    the module whose state it holds; ``resume`` continues from the file. ``command`` is how a
    user resumes (quoted in the stop message)."""

    path: Path                          # the checkpoint file (safetensors)
    module: torch.nn.Module             # the network trained (its state_dict is saved)
    every: int = 100                    # steps between checkpoints
    resume: bool = False                # continue from ``path``
    command: str = ""                   # the command that resumes, for the stop message


def fit(parameters: Iterable[torch.nn.Parameter], loss_fn: Callable[[torch.Tensor], torch.Tensor],
        n: int, steps: int, batch_size: int, lr: float, schedule: str = "one-cycle",
        warmup: float = 0.15, weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999),
        clip: float | None = None, seed: int = 0,
        every: int = 0, on_every: Callable[[int, float], bool | None] | None = None,
        state: Resumable | None = None) -> FitSummary:
    """Minimise ``loss_fn(indices)`` over ``steps`` minibatches of ``n`` samples.

    Every ``every`` steps ``on_every(step, loss)`` is called (progress lines, held-out checks);
    when it returns True the loop stops early. The same seed gives the same batches. With
    ``state`` the loop is resumable: model, optimiser, step, losses, batch order and random
    states are saved (:class:`Resumable`), and a resumed loop takes the same steps as one that
    never stopped."""
    params = [p for p in parameters if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=betas)
    batches = Minibatches(n, batch_size, torch.Generator().manual_seed(seed))
    t0, losses, stopped = time.perf_counter(), [], False
    settings = {"n": n, "steps": steps, "batch_size": batch_size, "seed": seed}
    start = _restore(state, opt, batches, losses, settings) if state is not None and state.resume else 0
    step, signals = start - 1, StopSignals()
    with signals if state is not None else contextlib.nullcontext():
        for step in range(start, steps):
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
            if state is not None and ((step + 1) % state.every == 0 or signals.received):
                _save(state, opt, batches, losses, settings, step + 1)
            if signals.received and state is not None:
                raise Interrupted(signals.received, step + 1, state.path, state.command)
    done = step + 1 if steps else 0
    if state is not None and done % state.every:
        _save(state, opt, batches, losses, settings, done)
    tail = losses[-max(1, done // 10):] or [float("nan")]
    return FitSummary(done, time.perf_counter() - t0, sum(tail) / len(tail), losses, stopped)


def _save(state: Resumable, opt, batches: Minibatches, losses: list[float], settings: dict, step: int) -> None:
    save_nested({"step": step, "settings": settings, "model": state.module.state_dict(),
                 "optimizer": opt.state_dict(), "batches": batches.state_dict(), "random": random_state(),
                 "losses": torch.tensor(losses, dtype=torch.float64)}, state.path)


def _restore(state: Resumable, opt, batches: Minibatches, losses: list[float], settings: dict) -> int:
    """Load ``state.path`` into the module, optimiser, batch order and generators; the step to go on from."""
    saved = load_nested(state.path)
    if saved.get("settings") != settings:
        raise CheckpointError(f"{state.path} was written by a loop with other settings ({saved.get('settings')}, "
                              f"now {settings}); resume with the same ones or start again")
    try:
        state.module.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        batches.load_state_dict(saved["batches"])
        losses.extend(float(v) for v in saved["losses"].tolist())
        step = int(saved["step"])
    except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as err:
        raise CheckpointError(f"{state.path} does not hold this loop's state ({str(err)[:120]}); "
                              "start again without resuming") from None
    set_random_state(saved["random"])
    return step
