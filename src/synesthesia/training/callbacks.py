"""Training callbacks: a sample grid per epoch, a throughput meter, the cosine learning-rate
schedule over the run's budget, and one progress bar over the whole run."""

from __future__ import annotations

import math
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import TQDMProgressBar

from synesthesia.data.batch import MultimodalBatch
from synesthesia.modalities.files import write_png


@torch.no_grad()
def direction_rows(model, batch: MultimodalBatch, target: str = "image", seed: int = 0) -> dict:
    """Generated ``target`` tensors for each single given modality and for the prior."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    rows = {}
    # models that serve only some directions (conditional GANs) list them; skip the others
    served = {(tuple(gv), t) for gv, t in model.directions()} if hasattr(model, "directions") else None
    for m in batch.data:
        if m != target and (served is None or ((m,), target) in served):
            rows[f"{m}->{target}"] = model.generate({m: batch.data[m]}, [target], generator=g)[target]
    rows[f"prior->{target}"] = model.generate({}, [target], generator=g, batch_size=len(batch))[target]
    return rows

def image_grid(rows: dict[str, torch.Tensor]) -> np.ndarray:
    """Tile image tensors (B, 3, H, W) in [0, 1], one row per entry, into uint8 (H', W', 3)."""
    tiles = [torch.cat(list(x.clamp(0, 1)), dim=2) for x in rows.values()]        # (3, H, B*W)
    grid = torch.cat(tiles, dim=1)
    return (grid.permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)

class SampleGrid(L.Callback):
    """After each validation epoch, write ``samples/epoch-XXX.png``: real images, then images
    generated from each other modality, then prior samples, for the first validation batch."""

    def __init__(self, folder: Path, n: int = 8) -> None:
        self.folder, self.n = Path(folder), n

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm = trainer.datamodule
        if not trainer.is_global_zero or dm is None or dm.val_set is None:
            return
        batch = dm.val_set[list(range(min(self.n, len(dm.val_set))))].to(pl_module.device)
        if "image" not in batch.data or not hasattr(pl_module.model, "generate"):
            return

        was_training = pl_module.model.training
        pl_module.model.eval()
        rows = {"real": batch.data["image"], **direction_rows(pl_module.model, batch)}
        pl_module.model.train(was_training)
        write_png(image_grid(rows), self.folder / f"epoch-{trainer.current_epoch:03d}.png")

class Throughput(L.Callback):
    """Logs training samples per second (``train/samples_per_s``) over each epoch."""

    def __init__(self) -> None:
        self._t0, self._n = time.perf_counter(), 0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._t0, self._n = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._n += len(batch)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        secs = time.perf_counter() - self._t0
        if secs > 0 and self._n:
            pl_module.log("train/samples_per_s", self._n / secs * trainer.world_size, sync_dist=False)

def budget_progress(trainer: L.Trainer) -> float:
    """How much of the run's budget is spent, in [0, 1]: the larger of the step budget
    (``max_steps`` or ``max_epochs``) and the time budget (``max_time``) fractions."""
    progress = 0.0
    total = trainer.estimated_stepping_batches
    if math.isfinite(total) and total > 0:
        progress = trainer.global_step / total
    timer = next((c for c in trainer.callbacks if isinstance(c, L.pytorch.callbacks.Timer)), None)
    if timer is not None and timer._duration:
        progress = max(progress, timer.time_elapsed("train") / timer._duration)
    return min(1.0, progress)

class CosineSchedule(L.Callback):
    """Linear warm-up over ``warmup_steps``, then cosine decay to ``final`` times the base learning
    rate as the budget is spent (see :func:`budget_progress`), so a run stopped by its time limit
    still ends at a low learning rate.

    A run resumed with a larger budget would find itself earlier on the curve, at a higher rate
    than it stopped at; jumping back up from a converged point can wreck a model (a visual
    tokenizer lost its codebook that way). So the factor in use is saved with the checkpoint, and
    a resumed run whose curve lies above it decays from that factor to ``final`` over what is left
    of the new budget instead. Resumed with the same budget, the curve is the original one.

    A run that stopped far from converged (a transformer after a short first budget) gains little
    from a longer tail at its floor; ``restart`` (``train.resume_lr_factor``) is then a warm
    restart after SGDR (Loshchilov & Hutter, 2017): from the saved factor, linearly up to
    ``restart`` over ``warmup_steps``, then a cosine down to ``final`` over what is left."""

    def __init__(self, warmup_steps: int = 100, final: float = 0.02,
                 restart: float | None = None) -> None:
        self.warmup_steps, self.final, self.restart = warmup_steps, final, restart
        self.current: float | None = None          # the factor last applied (saved)
        self._resumed: float | None = None         # the saved factor, until the first batch
        self._segment: tuple[float, float] | None = None     # (start progress, peak factor)
        self._rewarm: tuple[int, float] | None = None         # restart: (resume step, saved factor)
        self._budget: float | None = None                     # the run's budget in steps (saved)
        self._saved_budget: float | None = None               # the budget of the run resumed

    def factor(self, step: int, progress: float) -> float:
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        return warm * (self.final + (1 - self.final) * 0.5 * (1 + math.cos(math.pi * progress)))

    def applied_factor(self, step: int, progress: float) -> float:
        """The factor to apply now: :meth:`factor`, except after a resume. There a cosine runs
        from a peak at the resume point down to ``final`` at the end of the budget: the saved
        factor, when the original curve lies above it; with ``restart``, that factor, reached
        from the saved one over ``warmup_steps``."""
        if self._resumed is not None:
            f0, self._resumed = self._resumed, None
            if self.restart is not None:
                self._segment, self._rewarm = (progress, self.restart), (step, f0)
            elif self.factor(step, progress) > f0 * 1.05 + 1e-12:
                self._segment = (progress, f0)
        if self._segment is None:
            return self.factor(step, progress)
        p0, f0 = self._segment
        u = min(1.0, max(0.0, (progress - p0) / (1 - p0))) if p0 < 1 else 1.0
        f = self.final + (f0 - self.final) * 0.5 * (1 + math.cos(math.pi * u))
        if self._rewarm is not None and self.warmup_steps > 0:
            s0, saved = self._rewarm
            w = min(1.0, (step - s0 + 1) / self.warmup_steps)
            f = saved + (f - saved) * w
        return f

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._budget = float(trainer.estimated_stepping_batches)
        if self._resumed is not None:
            if self.restart is None and self._saved_budget == self._budget:
                self._resumed = None             # the same budget: go on along the same curve
            else:
                self._segment = self._rewarm = None
        f = self.current = self.applied_factor(trainer.global_step, budget_progress(trainer))
        for opt in trainer.optimizers:
            for group in opt.param_groups:
                group.setdefault("base_lr", group["lr"])
                group["lr"] = group["base_lr"] * f

    def state_dict(self) -> dict:
        if self.current is None:
            return {}
        return {"factor": self.current, "budget": self._budget,
                "segment": list(self._segment) if self._segment else None,
                "rewarm": list(self._rewarm) if self._rewarm else None}

    def load_state_dict(self, state_dict: dict) -> None:
        if "factor" in state_dict:
            self._resumed = float(state_dict["factor"])
            self._saved_budget = state_dict.get("budget")
            segment, rewarm = state_dict.get("segment"), state_dict.get("rewarm")
            self._segment = tuple(segment) if segment else None
            self._rewarm = (int(rewarm[0]), float(rewarm[1])) if rewarm else None

class StepProgress(TQDMProgressBar):
    """One bar over the run's optimiser steps (not one per epoch), so its time left is the
    run's: ``max_steps`` when set, else the steps of ``max_epochs``."""

    def __init__(self) -> None:
        super().__init__(leave=False)

    def on_train_start(self, trainer, *_) -> None:
        self.train_progress_bar = self.init_train_tqdm()
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else trainer.estimated_stepping_batches
        self.train_progress_bar.reset(total=None if not math.isfinite(total) else int(total))
        self.train_progress_bar.initial = trainer.global_step
        self.train_progress_bar.n = trainer.global_step

    def on_train_epoch_start(self, trainer, *_) -> None:
        self.train_progress_bar.set_description(f"epoch {trainer.current_epoch}")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        bar = self.train_progress_bar
        if bar is not None and not bar.disable:
            bar.n = trainer.global_step
            bar.refresh()
            if trainer.global_step % max(1, self.refresh_rate * 10) == 0:
                bar.set_postfix(self.get_metrics(trainer, pl_module))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not self.train_progress_bar.disable:
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))
