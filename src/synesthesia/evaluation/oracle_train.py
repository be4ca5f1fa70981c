"""Training and held-out evaluation of an oracle network on world samples.

Plain supervised learning: one cross-entropy per attribute, summed; AdamW with a one-cycle
learning-rate schedule (Smith & Topin, 2019), which reaches high accuracy in a few epochs. The
training set is rendered once from the train split and kept in memory as raw arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from synesthesia.world.attributes import WorldConfig
from synesthesia.world.world import ShapesWorld


@dataclass(frozen=True)
class OracleTraining:
    """Budget and optimiser settings of one oracle's training."""

    n_train: int = 16000        # training samples, rendered once from the train split
    epochs: int = 3
    batch_size: int = 64
    lr: float = 3e-3            # peak learning rate of the one-cycle schedule
    weight_decay: float = 1e-4
    n_test: int = 2000          # test-split samples the held-out accuracy is measured on
    seed: int = 0


def render_set(world: WorldConfig, split: str, n: int, modality: str,
               compact: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
               chunk: int = 2048) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """Samples 0..n-1 of ``split``: ``compact``-ed raw arrays (N, ...) as one tensor, and their
    codes (attribute -> int64 (N,))."""
    if n <= 0:
        raise ValueError(f"need a positive number of {split} samples, got {n}")
    raws, codes = [], []
    for _, batch in ShapesWorld(world).render_chunks(split, n, chunk=chunk, modalities=[modality]):
        raws.append(compact(torch.from_numpy(batch[modality])))
        codes.append(batch["codes"])
    x = torch.cat(raws)
    return x, {a: np.concatenate([c[a] for c in codes]) for a in codes[0]}


def _loss(net: torch.nn.Module, x: torch.Tensor, y: dict[str, torch.Tensor]) -> torch.Tensor:
    logits = net(x)
    return sum(F.cross_entropy(logits[a], y[a]) for a in y)


def train_net(net: torch.nn.Module, world: WorldConfig, modality: str,
              attributes: Sequence[str], training: OracleTraining) -> torch.nn.Module:
    """Fit ``net`` in place on ``training.n_train`` train-split samples; returns it in eval mode."""
    x, codes = render_set(world, "train", training.n_train, modality, net.compact)
    y = {a: torch.from_numpy(codes[a]) for a in attributes}
    batch = min(training.batch_size, len(x))
    per_epoch = len(x) // batch
    steps = max(1, training.epochs * per_epoch)
    opt = torch.optim.AdamW(net.parameters(), lr=training.lr, weight_decay=training.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=training.lr, total_steps=steps,
                                                pct_start=0.15)
    gen = torch.Generator().manual_seed(training.seed)
    net.train()
    for _ in range(training.epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(per_epoch):
            idx = order[i * batch:(i + 1) * batch]
            loss = _loss(net, x[idx], {a: v[idx] for a, v in y.items()})
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval()


@torch.no_grad()
def evaluate(net: torch.nn.Module, world: WorldConfig, modality: str, attributes: Sequence[str],
             n_test: int, batch_size: int = 500) -> dict[str, float]:
    """Held-out accuracy per attribute on the first ``n_test`` samples of the test split."""
    x, codes = render_set(world, "test", n_test, modality, net.compact)
    net.eval()
    logits = [net(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return {a: float((torch.cat([lg[a] for lg in logits]).argmax(1).numpy() == codes[a]).mean())
            for a in attributes}
