"""The Lightning wrapper of adversarially trained models (``training_kind = "adversarial"``).

Manual optimisation with two Adam optimisers. Per batch: the model draws conditions and fakes
once; the discriminator steps on ``model.discriminator_loss``; the generator steps on
``model.generator_loss`` (the discriminator's parameters frozen meanwhile); then the model updates
its moving average of the generator. The model owns both losses; this only calls, checks, logs and
optimises. Lightning counts optimiser steps, so ``trainer.global_step`` (and ``train.max_steps``)
advances by two per batch; ``train/iteration`` counts batches.

Collapse guard: every ``model.config.diversity_every`` batches the spread of samples drawn for the
same condition (``model.sample_diversity``) is logged as ``train/diversity/<target>``; when it falls
below ``model.config.collapse_fraction`` of its best value so far, a :class:`ModeCollapseWarning`
says so (once, until it recovers).
"""

from __future__ import annotations

import logging
import warnings

import lightning as L
import torch

from synesthesia.config import ConfigError
from synesthesia.data.batch import MultimodalBatch
from synesthesia.models.collapse import CollapseMonitor
from synesthesia.runs.config import TrainConfig
from synesthesia.training.module import _flat_scalars, check_loss

log = logging.getLogger(__name__)

# Lightning warns that a manual-optimisation checkpoint holds the state after the step; that is
# the state this module means to save (it matches the step count stored with it)
warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization", category=UserWarning)


class ModeCollapseWarning(UserWarning):
    """The generator's samples for one condition stopped varying."""


def plain_update(model, batch: MultimodalBatch, opt_g: torch.optim.Optimizer,
                 opt_d: torch.optim.Optimizer) -> tuple[dict, dict]:
    """One update in the order :class:`AdversarialModule` takes it (draw, discriminator step,
    generator step, moving average), in plain PyTorch without Lightning, for benchmarks and tests.
    Returns the discriminator's and the generator's loss dicts."""
    draw = model.draw(batch.data, batch.masks)
    d = model.discriminator_loss(batch.data, batch.masks, draw)
    opt_d.zero_grad()
    d["loss"].backward()
    opt_d.step()
    g = model.generator_loss(batch.data, batch.masks, draw)
    opt_g.zero_grad()
    g["loss"].backward()
    opt_g.step()
    model.update_ema()
    return d, g


class AdversarialModule(L.LightningModule):
    """Trains a model that offers ``draw``, ``discriminator_loss``, ``generator_loss``,
    ``parameter_groups`` and (optionally) ``update_ema`` and ``sample_diversity``."""

    def __init__(self, model: torch.nn.Module, train: TrainConfig) -> None:
        super().__init__()
        if train.compile:
            raise ConfigError("train.compile applies to models trained by likelihood (joint VAE, transformers); "
                              "adversarial training runs eagerly: set train.compile: false")
        if train.gradient_clip:
            raise ConfigError("adversarial training does not clip gradients (spectral normalisation keeps "
                              "the discriminator in check); set train.gradient_clip: null")
        self.model = model
        self.train_cfg = train
        self.automatic_optimization = False
        self.iteration = 0
        cfg = getattr(model, "config", None)
        self.diversity_every = int(getattr(cfg, "diversity_every", 0) or 0)
        self.monitors: dict[str, CollapseMonitor] = {}
        self.collapse_fraction = float(getattr(cfg, "collapse_fraction", 0.3))

    # -- optimisers --------------------------------------------------------------------------
    def configure_optimizers(self):
        cfg, lr = self.model.config, self.train_cfg.lr
        groups = self.model.parameter_groups()
        betas = tuple(float(b) for b in cfg.betas)
        opt_g = torch.optim.Adam(groups["generator"], lr=lr, betas=betas, weight_decay=self.train_cfg.weight_decay)
        opt_d = torch.optim.Adam(groups["discriminator"], lr=lr * cfg.d_lr_scale, betas=betas,
                                 weight_decay=self.train_cfg.weight_decay)
        return [opt_g, opt_d]

    # -- training ------------------------------------------------------------------------------
    def _check(self, out: dict, player: str) -> None:
        check_loss(out, f"the {player}'s loss", self.global_step, self.train_cfg.max_loss,
                   "lower train.lr, keep model.spectral_norm on, or train in 32-true precision")

    def training_step(self, batch: MultimodalBatch, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        draw = self.model.draw(batch.data, batch.masks)

        if not draw.fake:                                 # no row of this batch has a target
            return
        d_out = self.model.discriminator_loss(batch.data, batch.masks, draw)
        self._check(d_out, "discriminator")
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_out["loss"])
        opt_d.step()

        self.toggle_optimizer(opt_g)                      # freezes the discriminator's parameters
        g_out = self.model.generator_loss(batch.data, batch.masks, draw)
        self._check(g_out, "generator")
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_out["loss"])
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        decay = self.model.update_ema() if hasattr(self.model, "update_ema") else 0.0
        self.iteration = self.global_step // 2              # two optimiser steps per batch
        logs = {f"train/d/{k}": v for k, v in _flat_scalars(d_out).items()}
        logs.update({f"train/g/{k}": v for k, v in _flat_scalars(g_out).items()})
        logs = {k: v.detach().float().mean() for k, v in logs.items()}
        logs.update({"train/ema_decay": torch.tensor(float(decay)), "train/iteration": torch.tensor(float(self.iteration))})
        self.log_dict(logs, on_step=True, on_epoch=False, batch_size=len(batch))
        self.log_dict({"d_loss": d_out["loss"].detach(), "g_loss": g_out["loss"].detach()}, prog_bar=True,
                      on_step=True, on_epoch=False, batch_size=len(batch))
        if self.diversity_every and hasattr(self.model, "sample_diversity") and \
                (self.iteration == 1 or self.iteration % self.diversity_every == 0):
            self._diversity(batch)

    def _diversity(self, batch: MultimodalBatch) -> None:
        values = self.model.sample_diversity(batch.data)
        for target, value in values.items():
            self.log(f"train/diversity/{target}", value, on_step=True, on_epoch=False, batch_size=len(batch))
            monitor = self.monitors.setdefault(target, CollapseMonitor(self.collapse_fraction))
            if monitor.update(value):
                message = (f"possible mode collapse: the {target} samples drawn for one condition differ by "
                           f"{value:.4f} on average, below {self.collapse_fraction:.0%} of their best "
                           f"{monitor.best:.4f} (iteration {self.iteration}); try model.diffaugment, "
                           "model.mode_seeking_weight, a lower train.lr, or resume an earlier checkpoint")
                warnings.warn(message, ModeCollapseWarning, stacklevel=2)
                log.warning(message)

    # -- resume: the collapse monitors go on from their saved best values ----------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["collapse_monitors"] = {t: [m.best, m.seen, m.alarmed] for t, m in self.monitors.items()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        for target, (best, seen, alarmed) in (checkpoint.get("collapse_monitors") or {}).items():
            monitor = self.monitors.setdefault(target, CollapseMonitor(self.collapse_fraction))
            monitor.best, monitor.seen, monitor.alarmed = float(best), int(seen), bool(alarmed)

    # -- validation ----------------------------------------------------------------------------
    def validation_step(self, batch: MultimodalBatch, batch_idx: int) -> None:
        out = self.model(batch.data, batch.masks)
        logs = {f"val/{k}": v.detach().float().mean() for k, v in _flat_scalars(out).items()}
        self.log_dict(logs, on_step=False, on_epoch=True, batch_size=len(batch), sync_dist=True)
        self.log("val_loss", out["loss"].detach(), prog_bar=True, on_step=False, on_epoch=True,
                 batch_size=len(batch), sync_dist=True)
