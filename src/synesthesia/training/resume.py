"""Exact resume: a run killed at any step and resumed from a checkpoint continues as if it had
never stopped.

* :class:`StepOrder` fixes the batches: epoch ``e`` is a permutation of the samples drawn from
  a generator seeded by ``(seed, e)``, cut into batches, each rank taking its own slice. Its state
  (the epoch and the batches of it consumed) goes into Lightning's checkpoint through
  :class:`StatefulLoader`, so a resumed run starts at the next batch of the same order.
* :class:`KeyedBatches` builds each batch under a generator seeded by its place in that order, so
  what the data draws at random (missing-modality masks, one caption of several) is the same
  whenever the batch is built, in the main process or in a worker.
* :class:`StepRandomness` seeds torch, numpy and Python's ``random`` at the start of every
  training step from ``(seed, step, rank)``, so the models' own randomness (subsets, noise,
  dropout of conditions) depends on the step alone; it also keeps the generators' states in the
  checkpoint.
* :class:`GracefulStop` turns SIGTERM and SIGINT into a stop after the current step (every rank
  at the same step under DDP); ``train`` then saves the checkpoint and says how to resume.
"""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, DistributedSampler

from synesthesia.checkpoint import StopSignals, random_state, seed_all, seed_for, set_random_state


class StepOrder(DistributedSampler):
    """Keys ``(epoch, position, indices)`` of the training batches, in an order fixed by ``seed``
    and the epoch; ``rank`` of ``world`` takes every ``world``-th sample of each permutation.
    (A DistributedSampler, so Lightning keeps it under DDP instead of putting its own in place.)"""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        super().__init__(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
        per_rank = n // world
        self.n, self.seed, self.rank, self.world = n, seed, rank, world
        self.batch_size = max(1, min(batch_size, per_rank))
        self.epoch, self.start, self.consumed = 0, 0, 0

    def __len__(self) -> int:
        return (self.n // self.world) // self.batch_size

    def permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed_for(self.seed, "order", epoch))
        order = torch.randperm(self.n, generator=g)
        return order[self.rank: (self.n // self.world) * self.world: self.world]

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self.start, self.consumed = epoch, 0, 0

    def __iter__(self):
        epoch, start = self.epoch, self.start
        self.start = 0
        order = self.permutation(epoch)
        for pos in range(start, len(self)):
            yield epoch, pos, order[pos * self.batch_size:(pos + 1) * self.batch_size]

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "consumed": self.consumed, "n": self.n, "batch_size": self.batch_size,
                "world": self.world}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.consumed = int(state["epoch"]), int(state["consumed"])
        self.start = self.consumed
        if self.start >= len(self):                  # saved at the end of an epoch: the next one
            self.epoch, self.start, self.consumed = self.epoch + 1, 0, 0


class KeyedBatches:
    """Map-style dataset of whole batches: key ``(epoch, position, indices)`` -> the batch,
    built with torch's generator seeded by the key (restored afterwards)."""

    def __init__(self, dataset, seed: int, rank: int = 0) -> None:
        self.dataset, self.seed, self.rank = dataset, seed, rank

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        epoch, pos, indices = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed_for(self.seed, "data", epoch, pos, self.rank))
            return self.dataset[indices.tolist()]


def _whole(batch):
    return batch


class StatefulLoader(DataLoader):
    """A DataLoader over :class:`KeyedBatches` whose :class:`StepOrder` state Lightning saves in
    its checkpoints and restores on resume."""

    def state_dict(self) -> dict:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)


def training_loader(dataset, batch_size: int, seed: int, rank: int, world: int, num_workers: int) -> StatefulLoader:
    """The training loader: batches in :class:`StepOrder`, built by :class:`KeyedBatches`."""
    order = StepOrder(len(dataset), batch_size, seed, rank, world)
    return StatefulLoader(KeyedBatches(dataset, seed, rank), sampler=order, batch_size=None, collate_fn=_whole,
                          num_workers=num_workers, persistent_workers=num_workers > 0,
                          generator=torch.Generator().manual_seed(seed_for(seed, "workers", rank)))


class StepRandomness(L.Callback):
    """Seeds every training step from ``(seed, step, rank)`` and records the place reached in the
    batch order; keeps the random generators' states in the checkpoint."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        seed_all(seed_for(self.seed, "step", trainer.global_step, trainer.global_rank))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        order = getattr(trainer.train_dataloader, "sampler", None)
        if isinstance(order, StepOrder):
            order.epoch, order.consumed = trainer.current_epoch, batch_idx + 1

    def state_dict(self) -> dict:
        return {"random": random_state()}

    def load_state_dict(self, state_dict: dict) -> None:
        if "random" in state_dict:
            set_random_state(state_dict["random"])


class GracefulStop(L.Callback):
    """SIGTERM or SIGINT during training (caught by ``signals``, entered around the whole run):
    finish the step, save ``last`` and stop, every rank at the same step; :attr:`stopped` names the
    signal. The checkpoint of a run that ends mid-epoch (a signal, ``max_steps``, a time limit) is
    written here, at the end of its last step, so it resumes mid-epoch (Lightning would count the
    epoch as done if it were saved after ``fit``); :attr:`saved_at` is that step."""

    def __init__(self, signals: StopSignals, last) -> None:
        self.signals, self.last = signals, last
        self.stopped: str | None = None
        self.saved_at: int | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        launcher = trainer.strategy.launcher
        if self.signals.forward is None and trainer.is_global_zero and hasattr(launcher, "procs"):
            self.signals.forward = launcher.kill         # DDP started from a script: tell the other ranks
        self.signals.install()                           # Lightning put its own SIGTERM handler in place

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        asked = self.signals.received is not None
        if trainer.world_size > 1:
            asked = bool(trainer.strategy.reduce_boolean_decision(asked, all=False))
        if asked:
            self.stopped = self.signals.received or "SIGTERM"
            trainer.should_stop = True
            trainer.limit_val_batches = 0            # stop now: no validation pass the run would not have made
        budget = 0 < trainer.max_steps <= trainer.global_step
        if trainer.should_stop or budget:
            trainer.save_checkpoint(self.last, weights_only=False)
            self.saved_at = trainer.global_step
