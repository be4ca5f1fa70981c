"""Thin Lightning wrappers. The model owns its loss; this only calls it, logs and optimises."""

from __future__ import annotations

import importlib
import math

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from synesthesia.data.batch import MultimodalBatch
from synesthesia.data.store import TensorDataset
from synesthesia.errors import SynesthesiaError
from synesthesia.runs.config import TrainConfig
from synesthesia.training.compiled import forward_of
from synesthesia.training.resume import training_loader


class NonFiniteLossError(SynesthesiaError, RuntimeError):
    """Training produced NaN or Inf, or a loss above ``train.max_loss``; the message says at
    which step, in which part of the loss, and what to try."""


def check_loss(out: dict, where: str, step: int, max_loss: float | None, advice: str) -> None:
    """Stop training when the loss of ``out`` is NaN/Inf (naming the parts that are) or, with
    ``max_loss``, larger than that (divergence); the last checkpoint stays as it was."""
    loss = out["loss"]
    resume = "; the last checkpoint is kept: resume from it with --resume"
    if not torch.isfinite(loss).all():
        parts = [k for k, v in _flat_scalars(out).items() if k != "loss" and not torch.isfinite(v).all()]
        named = f" (non-finite parts: {', '.join(parts[:6])})" if parts else ""
        raise NonFiniteLossError(f"{where} became {float(loss.detach().float().mean())} at step {step}{named}: "
                                 f"{advice}{resume}")
    if max_loss is not None and float(loss.detach()) > max_loss:
        parts = sorted(((float(v.detach().float().mean()), k) for k, v in _flat_scalars(out).items()
                        if k != "loss"), reverse=True)
        largest = f" (largest parts: {', '.join(f'{k} {v:.4g}' for v, k in parts[:3])})" if parts else ""
        raise NonFiniteLossError(f"{where} reached {float(loss.detach()):.6g} at step {step}, above train.max_loss "
                                 f"{max_loss:g}: training diverged{largest}; {advice}{resume}")

class GenerativeModule(L.LightningModule):
    """Trains any model whose ``forward(data, masks)`` returns ``{"loss": scalar, ...}``."""

    def __init__(self, model: torch.nn.Module, train: TrainConfig) -> None:
        super().__init__()
        self.model = model
        self.train_cfg = train
        self._forward = forward_of(model, train.compile)     # not a child module: names stay the model's

    def _step(self, batch: MultimodalBatch, prefix: str) -> torch.Tensor:
        out = self._forward(batch.data, batch.masks)
        loss = out["loss"]
        check_loss(out, f"the {prefix} loss", self.global_step, self.train_cfg.max_loss if prefix == "train" else None,
                   "lower train.lr, set train.gradient_clip, or train in 32-true precision")
        logs = {f"{prefix}/{k}": v.detach().float().mean() for k, v in _flat_scalars(out).items()}
        self.log_dict(logs, prog_bar=False, on_step=prefix == "train", on_epoch=prefix != "train",
                      batch_size=len(batch), sync_dist=prefix != "train")
        self.log(f"{prefix}_loss", loss.detach(), prog_bar=True, batch_size=len(batch),
                 on_step=prefix == "train", on_epoch=prefix != "train", sync_dist=prefix != "train")
        return loss

    def training_step(self, batch: MultimodalBatch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: MultimodalBatch, batch_idx: int) -> None:
        self._step(batch, "val")

    def configure_optimizers(self):
        cfg = self.train_cfg
        opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        return opt

def _flat_scalars(out: dict, prefix: str = "") -> dict[str, torch.Tensor]:
    flat = {}
    for k, v in out.items():
        if isinstance(v, dict):
            flat.update(_flat_scalars(v, f"{prefix}{k}/"))
        elif isinstance(v, torch.Tensor) and v.numel() >= 1 and v.dim() <= 1:
            flat[f"{prefix}{k}"] = v
        elif isinstance(v, (int, float)) and math.isfinite(v):
            flat[f"{prefix}{k}"] = torch.tensor(float(v))
    return flat

class _Indices(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i

class _Gather:
    """collate_fn: a list of indices -> one vectorised batch."""

    def __init__(self, dataset: TensorDataset) -> None:
        self.dataset = dataset

    def __call__(self, indices: list[int]) -> MultimodalBatch:
        return self.dataset[indices]

class TensorDataModule(L.LightningDataModule):
    """Train/val loaders over :class:`TensorDataset`s. Training batches come in the resumable
    order of :func:`~synesthesia.training.resume.training_loader` (each rank its own part under
    DDP); validation batches in order."""

    def __init__(self, train: TensorDataset, val: TensorDataset | None, batch_size: int,
                 num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.train_set, self.val_set = train, val
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed

    def train_dataloader(self) -> DataLoader:
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        return training_loader(self.train_set, self.batch_size, self.seed, rank, world, self.num_workers)

    def val_dataloader(self):
        if self.val_set is None:
            return []
        return DataLoader(_Indices(len(self.val_set)), batch_size=min(self.batch_size, len(self.val_set)),
                          shuffle=False, collate_fn=_Gather(self.val_set), num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return batch.to(device) if isinstance(batch, MultimodalBatch) else batch

# how a model trains (its ``training_kind`` attribute) -> "module:class" of its LightningModule
LIGHTNING_MODULES: dict[str, str] = {
    "likelihood": "synesthesia.training.module:GenerativeModule",
    "adversarial": "synesthesia.training.adversarial:AdversarialModule",
}

def lightning_module(model: torch.nn.Module, train: TrainConfig) -> L.LightningModule:
    """Wrap ``model`` in the LightningModule its ``training_kind`` (default "likelihood") asks for."""

    kind = getattr(model, "training_kind", "likelihood")
    if kind not in LIGHTNING_MODULES:
        raise SynesthesiaError(f"no trainer for training_kind {kind!r}; known: {', '.join(LIGHTNING_MODULES)}")
    module, cls = LIGHTNING_MODULES[kind].split(":")
    return getattr(importlib.import_module(module), cls)(model, train)
