"""Evaluation on users' own paired files, where there are no attributes to read back.

For every pair of modalities a direction needs, a contrastive scorer
(:mod:`~synesthesia.evaluation.scorer`) is trained on the data's other samples
(:mod:`~synesthesia.evaluation.paired_data` says which) within an epoch budget with early stopping
on held-out R-precision (:mod:`~synesthesia.evaluation.scorer_fit`), and cached by a fingerprint
of those samples, the pair, the modality settings and the budget. A direction (given -> target) is
scored by how well each generated target matches its input under the scorer: mean cosine
similarity, and R-precision (the input retrieved among 99 mismatched ones, Xu et al., 2018). The
same figures for the real pairs are the ceiling. Fidelity is FID and KID on the scorer's
embedding of the target modality; X -> text is also scored by BLEU-4 and CIDEr-D against every
reference caption of a sample.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

import numpy as np
import torch

from synesthesia.evaluation.captioning import cider_d, corpus_bleu
from synesthesia.evaluation.diversity import distinct_n, self_bleu
from synesthesia.evaluation.fidelity import (
    PrecomputedFeatures,
    _kid_compute,
    _kid_metric,
)
from synesthesia.evaluation.generation import (
    direction_name,
    generate_tensors,
    model_directions,
)
from synesthesia.evaluation.paired_data import EncodedSamples, Selection
from synesthesia.evaluation.scorer import (
    ContrastiveScorer,
    get_scorer,
    retrieval_metrics,
)
from synesthesia.evaluation.scorer_fit import ScorerBudget, fit_scorer
from synesthesia.modalities import build_modality
from synesthesia.world.judges.oracles import default_cache_dir

# the scorer's towers: the run's modalities with narrower networks (the tensors are the same)
SCORER_WIDTHS = {"image": {"channels": 16, "feature_dim": 128, "residual": False},
                 "video": {"channels": 8, "feature_dim": 128, "residual": False},
                 "audio": {"channels": 32, "feature_dim": 128, "residual": False},
                 "text": {"embed": 64, "hidden": 128, "feature_dim": 128}}


WEAK_SCORER = 0.05                   # held-out R-precision below which a scorer is flagged as a poor judge


def scorer_modality(modality):
    """``modality`` with the narrower networks of :data:`SCORER_WIDTHS` (same codec, same
    tokenizer): a judge that trains in seconds, not minutes."""
    config = {**modality.config(), **SCORER_WIDTHS.get(modality.name, {})}
    if modality.name == "text":
        config["backend"] = modality._tok()
    return build_modality(modality.name, **config)


def scorer_key(data_key: str, pair: tuple[str, str], configs: list[dict], budget: ScorerBudget) -> str:
    blob = json.dumps([data_key, pair, configs, budget.to_dict()], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def fid_kid(real: torch.Tensor, fake: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """FID and KID (mean) of two sets of features (N, D), torchmetrics on precomputed features."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    ident = PrecomputedFeatures(real.shape[1])
    fid, kid = FrechetInceptionDistance(feature=ident), _kid_metric(ident, 50, 1000)
    for metric in (fid, kid):
        metric.update(real.double(), real=True)
        metric.update(fake.double(), real=False)
    kid_mean, _ = _kid_compute(kid, min(1000, len(real), len(fake)), seed)
    return {"fid": float(fid.compute()), "kid": kid_mean}


class PairedEvaluation:
    """Scorer-based evaluation of ``pipe`` on the ``evaluated`` samples; scorers train on
    ``scorer_data`` (``data_key`` fingerprints it for the cache)."""

    def __init__(self, pipe, evaluated: EncodedSamples, scorer_data: EncodedSamples, data_key: str,
                 selection: Selection, seed: int = 0, temperature: float = 1.0,
                 log: Callable[[str], None] = print, cache_dir=None, budget: ScorerBudget | None = None,
                 **options) -> None:
        self.pipe, self.eval, self.scorer_data, self.data_key = pipe, evaluated, scorer_data, data_key
        self.selection, self.seed, self.temperature, self.log = selection, seed, temperature, log
        self.options = options
        self.cache_dir = cache_dir or default_cache_dir().parent / "scorers"
        self.budget = budget or ScorerBudget(seed=seed)
        self.scorers: dict[tuple[str, str], ContrastiveScorer] = {}
        self._embedded: dict[tuple, torch.Tensor] = {}

    def scorer(self, a: str, b: str) -> ContrastiveScorer:
        pair = tuple(sorted((a, b)))
        if pair not in self.scorers:
            mods = {m: scorer_modality(self.pipe.modalities[m]) for m in pair}
            key = scorer_key(self.data_key, pair, [mods[m].config() for m in pair], self.budget)

            def train() -> ContrastiveScorer:
                self.log(f"training the {pair[0]}–{pair[1]} scorer on {len(self.scorer_data.rows(pair))} "
                         f"pairs (at most {self.budget.max_epochs} epochs; cached under {self.cache_dir})")
                return fit_scorer(mods, self.scorer_data.data, self.budget, self.log)

            scorer = get_scorer(self.cache_dir, key, mods, train)
            if scorer.info.get("source") == "cache":
                self.log(f"the {pair[0]}–{pair[1]} scorer comes from the cache ({key})")
            heldout = (scorer.info.get("heldout") or {}).get("r_precision")
            if heldout is not None and heldout < WEAK_SCORER:
                self.log(f"warning: the {pair[0]}–{pair[1]} scorer finds the true partner of only "
                         f"{heldout:.1%} of held-out samples (chance 1 %): its figures say little; give "
                         "more paired samples or raise --scorer-epochs")
            self.scorers[pair] = scorer
        return self.scorers[pair]

    @torch.no_grad()
    def _real(self, scorer: ContrastiveScorer, modality: str, rows: torch.Tensor) -> torch.Tensor:
        """The scorer's embedding (N, E) of the real samples ``rows`` of ``modality``, computed once."""
        key = (scorer.names, modality, hash(rows.numpy().tobytes()))
        if key not in self._embedded:
            self._embedded[key] = scorer.embed(modality, self.eval.tensors(modality, rows))
        return self._embedded[key]

    @torch.no_grad()
    def score(self, given: str, rows: torch.Tensor, target: str, generated: torch.Tensor | None = None) -> dict:
        """Similarity of each target (``generated``, else the real one) to its input, and
        R-precision: the target retrieving its own input among ``pool - 1`` others (pool 100, or
        all rows when fewer)."""
        scorer = self.scorer(given, target)
        z_given = self._real(scorer, given, rows)
        z_target = self._real(scorer, target, rows) if generated is None else scorer.embed(target, generated)
        pool = min(100, len(rows))
        retrieval = retrieval_metrics(z_given, z_target, (given, target), 1, pool)
        return {"similarity": float((z_given * z_target).sum(-1).mean()),
                "r_precision": retrieval[f"{target}->{given}/recall@1"], "pool": pool}

    def direction(self, given: tuple[str, ...], target: str, ceiling: dict, generated: dict) -> dict | None:
        rows = self.eval.rows((*given, target))
        if len(rows) < 2:
            self.log(f"  {direction_name(given, target):28s} skipped: fewer than 2 samples have "
                     f"{' and '.join((*given, target))}")
            return None
        t0 = time.perf_counter()
        out = generate_tensors(self.pipe, {m: self.eval.tensors(m, rows) for m in given}, target, seed=self.seed,
                               temperature=self.temperature, **self.options)
        per_given = {g: self.score(g, rows, target, out) for g in given}
        for g in given:
            if f"{g}<->{target}" not in ceiling:
                ceiling[f"{g}<->{target}"] = self.score(g, rows, target)
        row = {"similarity": float(np.mean([v["similarity"] for v in per_given.values()])),
               "r_precision": float(np.mean([v["r_precision"] for v in per_given.values()])),
               "per_given": per_given, "samples": len(rows)}
        if len(given) == 1 and (target not in generated or given[0] == "image"):   # image -> X first
            generated[target] = (given[0], rows, out)
        self.log(f"  {direction_name(given, target):28s} R-precision {row['r_precision']:.3f} "
                 f"similarity {row['similarity']:.3f} on {len(rows)} samples ({time.perf_counter() - t0:.1f} s)")
        return row

    def captioning(self, generated: dict) -> dict:
        """BLEU-4 and CIDEr-D of X -> text captions against every reference of each sample."""
        out = {}
        if "text" not in generated:
            return out
        given, rows, ids = generated["text"]
        hyps = self.pipe.modalities["text"].decode(ids)
        refs = [self.eval.references[i] for i in rows.tolist()]
        out[f"{given}->text"] = {"bleu4": corpus_bleu(hyps, refs), "cider_d": cider_d(hyps, refs),
                                 "distinct_2": distinct_n(hyps, 2), "self_bleu": self_bleu(hyps[:300]),
                                 "references_per_sample": float(np.mean([len(r) for r in refs]))}
        return out

    def fidelity(self, generated: dict) -> dict:
        """FID and KID on the scorer's embedding of each generated modality (from a single given
        modality), against the same samples' real ones."""
        out = {}
        for target, (given, rows, fake) in generated.items():
            if len(rows) < 2:
                continue
            scorer = self.scorer(given, target)
            real = self._real(scorer, target, rows)
            with torch.no_grad():
                fake_f = scorer.embed(target, fake)
            out[target] = {**fid_kid(real, fake_f, self.seed), "conditional_on": given, "samples": len(rows)}
        return out

    def run(self) -> dict:
        t0 = time.perf_counter()
        coh, ceiling, generated, skipped = {}, {}, {}, []
        for given, target in model_directions(self.pipe):
            missing = [m for m in (*given, target) if m not in self.eval.data.stored]
            if missing:
                skipped.append(direction_name(given, target))
                continue
            row = self.direction(given, target, ceiling, generated)
            if row is not None:
                coh[direction_name(given, target)] = row
        if skipped:
            self.log(f"  skipped (the data lacks a modality): {', '.join(skipped)}")
        fid = self.fidelity(generated)
        scorers = {f"{a}<->{b}": {"key": s.info.get("key"), "source": s.info.get("source"),
                                  "training": s.info.get("training"), "heldout": s.info.get("heldout"),
                                  "weak": (s.info.get("heldout") or {}).get("r_precision", 1.0) < WEAK_SCORER}
                   for (a, b), s in self.scorers.items()}
        return {"coherence": coh, "real_pairs": ceiling, "fid": {m: v["fid"] for m, v in fid.items()},
                "scorer_fidelity": fid, "captioning": self.captioning(generated),
                "scorers": scorers, "skipped_directions": skipped,
                "seconds": round(time.perf_counter() - t0, 1)}
