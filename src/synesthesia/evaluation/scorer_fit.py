"""Training a contrastive scorer with a budget that scales with the data: epochs over the pairs,
stopped early when held-out R-precision stops improving, the best epoch's weights kept.

A tenth of the pairs (at least ``min_heldout``) is held out. After each epoch the held-out
R-precision (1 true partner among up to 99 others, both directions averaged) is computed and
logged; training stops after ``patience`` epochs without a gain (not before ``min_epochs``) or at
``max_epochs``. The learning rate warms up over the first epoch and decays on a cosine over
``max_epochs`` (the shared loop, :func:`synesthesia.loop.fit`). Fixed seeds give the same scorer
on any machine.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import torch

from synesthesia.data.store import TensorDataset
from synesthesia.evaluation.scorer import (
    ContrastiveScorer,
    ScorerError,
    retrieval_metrics,
)
from synesthesia.loop import fit


@dataclass
class ScorerBudget:
    """How long a scorer trains."""

    max_epochs: int = 20          # passes over the training pairs at most
    patience: int = 3             # epochs without a better held-out R-precision before stopping
    min_epochs: int = 5           # epochs trained before early stopping may stop (a contrastive start is flat)
    batch_size: int = 64          # pairs per step (the contrastive negatives)
    lr: float = 2e-3              # peak AdamW learning rate
    max_pairs: int = 20000        # training pairs used at most (a random subset beyond)
    min_heldout: int = 100        # pairs held out at least (a full R-precision pool)
    embed_dim: int = 128          # joint embedding width
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_epochs < 1 or self.patience < 1 or self.batch_size < 2 or self.lr <= 0:
            raise ScorerError(f"a scorer budget needs max_epochs >= 1, patience >= 1, batch_size >= 2 "
                              f"and lr > 0; got {asdict(self)}")

    def to_dict(self) -> dict:
        return asdict(self)


def _pairs(data: TensorDataset, names: tuple[str, str]) -> torch.Tensor:
    return torch.nonzero(data.masks[names[0]] & data.masks[names[1]]).squeeze(1)


def heldout_r_precision(scorer: ContrastiveScorer, x_a: torch.Tensor, x_b: torch.Tensor) -> float:
    """Mean of a->b and b->a R-precision (pool of min(100, pairs))."""
    with torch.no_grad():
        z_a, z_b = scorer.embed(scorer.names[0], x_a), scorer.embed(scorer.names[1], x_b)
    r = retrieval_metrics(z_a, z_b, scorer.names, 1, min(100, len(z_a)))
    return float(sum(v for k, v in r.items() if k.endswith("recall@1")) / 2)


def fit_scorer(modalities: Mapping[str, object], data: TensorDataset, budget: ScorerBudget | None = None,
               log: Callable[[str], None] = print) -> ContrastiveScorer:
    """A scorer of the two ``modalities`` trained on ``data``'s pairs within ``budget``."""
    budget = budget or ScorerBudget()
    names = tuple(modalities)
    g = torch.Generator().manual_seed(budget.seed)
    pairs = _pairs(data, names)                                        # type: ignore[arg-type]
    pairs = pairs[torch.randperm(len(pairs), generator=g)]
    n_val = max(budget.min_heldout, len(pairs) // 10)
    if len(pairs) - n_val < 2 * 2:
        raise ScorerError(f"{len(pairs)} samples have both {' and '.join(names)}; a scorer needs at least "
                          f"{n_val + 4} (with {n_val} held out): give more paired samples")
    val, train = pairs[:n_val], pairs[n_val:n_val + budget.max_pairs]
    held = data[val.tolist()]
    x_a, x_b = held.data[names[0]], held.data[names[1]]
    batch = min(budget.batch_size, len(train))
    per_epoch = max(1, len(train) // batch)
    state = {"best": -1.0, "weights": None, "epoch": 0, "best_epoch": 0}
    t0 = time.perf_counter()

    def loss(idx: torch.Tensor) -> torch.Tensor:
        return scorer(data[train[idx].tolist()])["loss"]

    def after_epoch(step: int, value: float) -> bool:
        """Held-out R-precision after each epoch: keep the best weights, stop when it stalls."""
        epoch = state["epoch"] = step // per_epoch
        scorer.eval()
        r = heldout_r_precision(scorer, x_a, x_b)
        scorer.train()
        log(f"  scorer {names[0]}–{names[1]}: epoch {epoch}/{budget.max_epochs}, loss {value:.3f}, "
            f"held-out R-precision {r:.3f} ({time.perf_counter() - t0:.0f} s)")
        if r > state["best"] + 1e-4:
            state.update(best=r, weights=copy.deepcopy(scorer.state_dict()), best_epoch=epoch)
            return False
        return epoch - state["best_epoch"] >= budget.patience and epoch >= budget.min_epochs

    with torch.random.fork_rng(devices=[]), torch.enable_grad():     # callers may be under no_grad
        torch.manual_seed(budget.seed)
        scorer = ContrastiveScorer(dict(modalities), budget.embed_dim)     # type: ignore[arg-type]
        scorer.train()
        fit(scorer.parameters(), loss, len(train), per_epoch * budget.max_epochs, batch, budget.lr,
            "warmup-cosine", warmup=per_epoch, weight_decay=1e-4, seed=budget.seed, every=per_epoch,
            on_every=after_epoch)
    best, best_state, best_epoch, epoch = state["best"], state["weights"], state["best_epoch"], state["epoch"]
    scorer.load_state_dict(best_state)
    scorer.eval()
    scorer.info = {"training": {**budget.to_dict(), "epochs": epoch, "best_epoch": best_epoch,
                                "steps": epoch * per_epoch, "train_pairs": len(train), "heldout_pairs": n_val,
                                "stopped_early": epoch < budget.max_epochs,
                                "temperature": float(scorer.temperature.detach()),
                                "seconds": round(time.perf_counter() - t0, 2)},
                   "heldout": {"r_precision": best, "pool": min(100, n_val)}, "source": "trained"}
    return scorer
