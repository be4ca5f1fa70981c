"""A contrastive cross-modal scorer: how well do two modalities of a sample agree?

On users' own data there are no attribute oracles, so coherence is measured the way CLIPScore
does it (Hessel et al., 2021): a small CLIP-like model (Radford et al., 2021) is trained on the
data's real pairs of two modalities, and a pair is scored by the cosine similarity of its two
embeddings. Each side is the modality's default encoder plus a linear projection to
``embed_dim``, L2-normalised; training minimises the symmetric InfoNCE loss (van den Oord et al.,
2018) over the batch with a learnable, clamped temperature. Only samples that have both
modalities (their presence masks) count.

A scorer is only a fair judge when it retrieves real partners well, so training reports held-out
retrieval: recall@k with the whole validation set as the candidate pool, and R-precision as in
AttnGAN (Xu et al., 2018): each query ranks its true partner against 99 mismatched ones (a pool
of 100), chance being 1/100. A scorer is saved as a folder::

    <folder>/scorer.safetensors   weights (safetensors, never pickle)
    <folder>/scorer.json          modality names and configs, embed dim, training, held-out quality
    <folder>/assets/<modality>/   what each modality needs to rebuild (e.g. a tokenizer)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from synesthesia.checkpoint import read_module_info, save_module
from synesthesia.data.batch import MultimodalBatch
from synesthesia.data.store import TensorDataset
from synesthesia.errors import SynesthesiaError
from synesthesia.loop import fit
from synesthesia.modalities import Modality, build_modality

SCORER_FORMAT = 1
STEM = "scorer"                     # scorer.safetensors and scorer.json
WEIGHTS_FILE, INFO_FILE = f"{STEM}.safetensors", f"{STEM}.json"
TEMPERATURE_RANGE = (0.01, 1.0)      # CLIP clamps its logit scale at 100, i.e. temperature 0.01


class ScorerError(SynesthesiaError):
    """Bad scorer request, data or folder; the message says what to do."""


def expected_hits(scores: torch.Tensor, true: torch.Tensor, k: int) -> torch.Tensor:
    """Chance that the true candidate is in the top ``k`` when ties are broken at random.

    ``scores`` (Q, P): each query's score of every candidate; ``true`` (Q,): the true one's
    column. With g candidates scoring higher and t scoring equal (the true one included) this is
    ``clamp((k - g) / t, 0, 1)``: identical embeddings (e.g. duplicate captions) score chance,
    never a free hit. Returns (Q,).
    """
    s_true = scores.gather(1, true[:, None])                       # (Q, 1)
    higher = (scores > s_true).sum(1)                              # (Q,)
    tied = (scores == s_true).sum(1)                               # (Q,) >= 1
    return ((k - higher).clamp(min=0) / tied).clamp(max=1.0)


def retrieval_metrics(z_a: torch.Tensor, z_b: torch.Tensor, names: tuple[str, str] = ("a", "b"),
                      k: int = 1, pool: int | None = None) -> dict[str, float]:
    """Recall@1 and recall@k in both directions for N pairs of embeddings ``z_a, z_b`` (N, E).

    Rows are cut into consecutive chunks of ``pool`` (default N, the whole set); each query ranks
    its partner against the chunk's ``pool - 1`` other candidates. A last, shorter chunk borrows
    rows from the one before so every query sees exactly ``pool`` candidates. With ``pool=100``,
    recall@1 is the R-precision of Xu et al. (2018).
    """
    n = len(z_a)
    pool = n if pool is None else pool
    if len(z_b) != n or not 2 <= pool <= n:
        raise ScorerError(f"retrieval needs two equal-length sets of at least `pool` pairs; got "
                          f"{len(z_a)} and {len(z_b)} rows for a pool of {pool}; lower `pool`")
    ks = sorted({1, k})
    hits: dict[str, list[torch.Tensor]] = {}
    for lo in range(0, n, pool):
        hi = min(lo + pool, n)
        start = hi - pool                                          # chunk rows: [start, hi)
        sims = z_a[start:hi] @ z_b[start:hi].T                     # (P, P): row a_i, column b_j
        queries = torch.arange(lo - start, pool, device=sims.device)   # new queries in the chunk
        for key, s in ((f"{names[0]}->{names[1]}", sims), (f"{names[1]}->{names[0]}", sims.T)):
            for j in ks:
                hits.setdefault(f"{key}/recall@{j}", []).append(expected_hits(s[queries], queries, j))
    return {"pool": pool, **{key: float(torch.cat(v).mean()) for key, v in hits.items()}}


class Tower(nn.Module):
    """One side of the scorer: x (B, *shape) -> encoder (B, F) -> projection -> unit (B, E)."""

    def __init__(self, modality: Modality, embed_dim: int) -> None:
        super().__init__()
        self.encoder = modality.build_encoder()
        self.project = nn.Linear(modality.feature_dim, embed_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.project(self.encoder(x)), dim=-1)     # (B, E)


class ContrastiveScorer(nn.Module):
    """Two towers and a temperature. ``modalities`` maps exactly two names to modalities; tensors
    are passed in that order (``x_a`` for the first name, ``x_b`` for the second)."""

    def __init__(self, modalities: Mapping[str, Modality], embed_dim: int = 128,
                 temperature: float = 0.07) -> None:
        super().__init__()
        if len(modalities) != 2:
            raise ScorerError(f"a contrastive scorer pairs exactly two modalities; got "
                              f"{len(modalities)} ({', '.join(modalities) or 'none'}); train one "
                              "scorer per pair, e.g. {'image': ..., 'text': ...}")
        self.modalities = dict(modalities)
        self.names: tuple[str, str] = tuple(modalities)            # type: ignore[assignment]
        self.embed_dim = embed_dim
        self.towers = nn.ModuleDict({m: Tower(mod, embed_dim) for m, mod in modalities.items()})
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)))
        self.info: dict = {}

    @property
    def temperature(self) -> torch.Tensor:
        low, high = TEMPERATURE_RANGE
        return self.log_temperature.clamp(math.log(low), math.log(high)).exp()

    def embed(self, name: str, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Unit embeddings (B, E) of modality ``name``'s tensors x (B, *shape), in chunks."""
        if name not in self.towers:
            raise ScorerError(f"this scorer embeds {' and '.join(self.names)}, not {name!r}")
        device = self.log_temperature.device
        return torch.cat([self.towers[name](x[i:i + batch_size].to(device))
                          for i in range(0, len(x), batch_size)])

    def forward(self, batch: MultimodalBatch) -> dict[str, torch.Tensor]:
        """Symmetric InfoNCE over the batch's samples that have both modalities: cross-entropy
        of a->b and b->a over the (P, P) similarity logits, averaged. Fewer than two pairs give
        a loss of zero (nothing to contrast)."""
        a, b = self.names
        both = batch.masks[a] & batch.masks[b]                     # (B,)
        pairs = int(both.sum())
        if pairs < 2:
            return {"loss": self.log_temperature * 0.0, "pairs": torch.tensor(pairs)}
        z_a = self.towers[a](batch.data[a][both])                  # (P, E)
        z_b = self.towers[b](batch.data[b][both])                  # (P, E)
        logits = z_a @ z_b.T / self.temperature                    # (P, P)
        target = torch.arange(pairs, device=logits.device)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        return {"loss": loss, "pairs": torch.tensor(pairs)}

    @torch.no_grad()
    def similarity(self, x_a: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor:
        """Cosine similarity (B,) of paired rows: x_a (B, *shape_a) with x_b (B, *shape_b)."""
        if len(x_a) != len(x_b):
            raise ScorerError(f"similarity scores paired rows; got {len(x_a)} and {len(x_b)} rows")
        return (self.embed(self.names[0], x_a) * self.embed(self.names[1], x_b)).sum(-1)

    @torch.no_grad()
    def retrieval(self, x_a: torch.Tensor, x_b: torch.Tensor, k: int = 1,
                  pool: int | None = None) -> dict[str, float]:
        """Recall@1 and recall@k, a->b and b->a, for row-aligned pairs. The candidate pool is
        the whole batch (B candidates per query) unless ``pool`` is given, then chunks of
        ``pool`` rows (``pool=100``: R-precision, 1 true and 99 mismatched; chance 1/pool)."""
        z_a, z_b = self.embed(self.names[0], x_a), self.embed(self.names[1], x_b)
        return retrieval_metrics(z_a, z_b, self.names, k, pool)

    def evaluate(self, data: TensorDataset, k: int = 5, pool: int = 100) -> dict:
        """Held-out quality on ``data``'s samples that have both modalities: mean similarity of
        real and of mismatched (rolled by one) pairs, recall@{1, k} with all of them as the pool,
        and R-precision at ``pool`` (at most the number of pairs)."""
        x_a, x_b = paired_tensors(data, self.names)
        with torch.no_grad():
            z_a, z_b = self.embed(self.names[0], x_a), self.embed(self.names[1], x_b)
        r_pool = retrieval_metrics(z_a, z_b, self.names, 1, min(pool, len(z_a)))
        return {"pairs": len(z_a),
                "similarity": {"paired": float((z_a * z_b).sum(-1).mean()),
                               "mismatched": float((z_a * z_b.roll(1, 0)).sum(-1).mean())},
                "retrieval": retrieval_metrics(z_a, z_b, self.names, k),
                "r_precision": {**{key.split("/")[0]: v for key, v in r_pool.items() if "/" in key},
                                "pool": r_pool["pool"], "chance": 1 / r_pool["pool"]}}

    def save(self, folder: str | Path) -> Path:
        """Write assets, weights, then ``scorer.json`` (its presence marks a complete folder)."""
        for name, modality in self.modalities.items():
            modality.save_assets(Path(folder) / "assets" / name)
        info = {"modalities": list(self.names), "embed_dim": self.embed_dim,
                "modality_configs": {m: mod.config() for m, mod in self.modalities.items()},
                **{k: v for k, v in self.info.items() if k != "source"}}
        return save_module(folder, STEM, self, info, SCORER_FORMAT)

    def __repr__(self) -> str:
        return f"ContrastiveScorer({' <-> '.join(self.names)}, embed_dim={self.embed_dim})"


def paired_tensors(data: TensorDataset, names: tuple[str, str]) -> tuple[torch.Tensor, torch.Tensor]:
    """The model-form tensors (P, *shape) of both modalities for samples that have both."""
    check_data(data, names)
    batch = data[_paired_indices(data, names)]
    return batch.data[names[0]], batch.data[names[1]]


def check_data(data: TensorDataset, names: tuple[str, str]) -> None:
    missing = [m for m in names if m not in data.stored]
    if missing:
        raise ScorerError(f"the data has no {' or '.join(map(repr, missing))} modality (it has "
                          f"{', '.join(data.stored)}); build the dataset with both of "
                          f"{' and '.join(names)}, or score a pair of modalities it has")
    if len(_paired_indices(data, names)) < 2:
        raise ScorerError(f"fewer than two samples have both {' and '.join(names)}; a contrastive "
                          "scorer learns from paired samples, so add pairs to the data")


def _paired_indices(data: TensorDataset, names: tuple[str, str]) -> list[int]:
    return torch.nonzero(data.masks[names[0]] & data.masks[names[1]]).squeeze(1).tolist()


def train_scorer(modalities: Mapping[str, Modality], train: TensorDataset,
                 val: TensorDataset | None = None, steps: int = 500, epochs: float | None = None,
                 batch_size: int = 64, lr: float = 2e-3, seed: int = 0, embed_dim: int = 128,
                 weight_decay: float = 1e-4) -> ContrastiveScorer:
    """Train a scorer on ``train``'s pairs (``epochs``, when given, sets ``steps``) with AdamW and
    a one-cycle schedule (Smith & Topin, 2019) in the shared loop. The same seed gives the same weights; ``steps=0``
    an untrained baseline. With ``val``, ``scorer.info["heldout"]`` is ``scorer.evaluate(val)``."""
    if steps < 0 or batch_size < 2:
        raise ScorerError(f"need steps >= 0 and batch_size >= 2 (pairs to contrast); got {steps} "
                          f"and {batch_size}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        scorer = ContrastiveScorer(modalities, embed_dim)          # checks there are two
        for data in (train, val) if val is not None else (train,):
            check_data(data, scorer.names)
        pairs = torch.tensor(_paired_indices(train, scorer.names))
        batch_size = min(batch_size, len(pairs))
        steps = steps if epochs is None else max(1, math.ceil(epochs * len(pairs) / batch_size))
        scorer.train()
        summary = fit(scorer.parameters(), lambda idx: scorer(train[pairs[idx].tolist()])["loss"], len(pairs),
                      steps, batch_size, lr, "one-cycle", warmup=0.1, weight_decay=weight_decay, seed=seed)
    losses, t0 = summary.losses, time.perf_counter() - summary.seconds
    scorer.eval()
    tail = losses[-max(1, steps // 10):] or [float("nan")]
    scorer.info = {"training": {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed,
                                "weight_decay": weight_decay, "train_pairs": len(pairs),
                                "final_loss": sum(tail) / len(tail),
                                "temperature": float(scorer.temperature.detach()),
                                "seconds": round(time.perf_counter() - t0, 2)},
                   "heldout": None if val is None else scorer.evaluate(val), "source": "trained"}
    return scorer


def load_scorer(folder: str | Path, modalities: Mapping[str, Modality] | None = None) -> ContrastiveScorer:
    """Rebuild a saved scorer. ``modalities`` default to those rebuilt from the folder's configs
    and assets; given ones must have the same configs as at training."""
    folder = Path(folder)
    info = read_module_info(folder, STEM, SCORER_FORMAT, ScorerError, "scorer",
                            "train one with train_scorer(...) and save it")
    configs = info["modality_configs"]
    if modalities is None:
        modalities = {m: build_modality(m, **configs[m]) for m in info["modalities"]}
        for m, mod in modalities.items():
            mod.load_assets(folder / "assets" / m)
    given = {m: json.loads(json.dumps(mod.config())) for m, mod in modalities.items()}
    if list(given) != info["modalities"] or given != configs:
        raise ScorerError(f"{folder} was trained on {info['modalities']} with configs {configs}; "
                          f"got {given}; pass the same modalities or leave them out")
    scorer = ContrastiveScorer(modalities, info["embed_dim"])
    try:
        scorer.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    except RuntimeError as err:
        raise ScorerError(f"the weights in {folder} do not fit these modalities (another "
                          f"vocabulary?): {err}") from err
    scorer.info = {k: v for k, v in info.items() if k in ("training", "heldout", "key")}
    scorer.info["source"] = "cache"
    return scorer.eval()


def get_scorer(cache_dir: str | Path, key: str, modalities: Mapping[str, Modality],
               train_fn: Callable[[], ContrastiveScorer]) -> ContrastiveScorer:
    """The scorer cached under ``<cache_dir>/<key>``, else ``train_fn()`` saved there. ``key`` is
    a fingerprint of the data, modalities and budget that the caller computes; a new key trains a
    new scorer.
    ``scorer.info["source"]`` says ``"cache"`` or ``"trained"``."""
    if not key or any(c in key for c in "/\\") or key.startswith("."):
        raise ScorerError(f"scorer key {key!r} must be a plain folder name, e.g. a data fingerprint")
    folder = Path(cache_dir) / key
    info = folder / INFO_FILE
    if info.is_file() and json.loads(info.read_text(encoding="utf-8")).get("format") == SCORER_FORMAT:
        return load_scorer(folder, modalities)                     # an older format trains again
    scorer = train_fn()
    scorer.info["key"] = key
    scorer.save(folder)
    return scorer


__all__ = ["ContrastiveScorer", "ScorerError", "expected_hits", "get_scorer", "load_scorer",
           "retrieval_metrics", "train_scorer"]
