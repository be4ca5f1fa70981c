"""Evaluation on users' own paired files, where there are no attributes to read back.

For every pair of modalities the data has, a contrastive scorer (:mod:`~synesthesia.evaluation.scorer`)
is trained on the data's training pairs (and cached by a fingerprint of the data, the pair and
the modality settings). A direction (given -> target) is then scored by how well each generated
target matches its input under the scorer: mean cosine similarity, and R-precision (the input
retrieved among 99 mismatched ones, Xu et al., 2018). The same figures for the real pairs are the
ceiling. Fidelity is FID on the scorer's embedding of the target modality.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Callable

import numpy as np
import torch

from synesthesia.evaluation.diversity import distinct_n, self_bleu
from synesthesia.evaluation.fidelity import PrecomputedFeatures
from synesthesia.evaluation.generation import EvalData, direction_name, generate_tensors, model_directions
from synesthesia.world.judges.oracles import default_cache_dir
from synesthesia.evaluation.scorer import ContrastiveScorer, get_scorer, train_scorer
from synesthesia.data.sources import ManifestSource

SCORER_STEPS = 1500

class PairedEvaluation:
    """Scorer-based evaluation of ``pipe`` on ``data`` (users' files, no attributes)."""

    def __init__(self, pipe, data: EvalData, seed: int = 0, temperature: float = 1.0,
                 log: Callable[[str], None] = print, cache_dir=None, manifest=None,
                 scorer_steps: int = SCORER_STEPS, **options) -> None:
        self.pipe, self.data, self.seed, self.temperature = pipe, data, seed, temperature
        self.log, self.options = log, options
        self.cache_dir = cache_dir or default_cache_dir().parent / "scorers"
        self.manifest, self.scorer_steps = manifest, scorer_steps
        self.scorers: dict[tuple[str, str], ContrastiveScorer] = {}

    def scorer(self, a: str, b: str) -> ContrastiveScorer:
        pair = tuple(sorted((a, b)))
        if pair not in self.scorers:
            mods = {m: self.pipe.modalities[m] for m in pair}
            key = hashlib.sha256(json.dumps([self.data.fingerprint, pair, [mods[m].config() for m in pair],
                                             self.scorer_steps], sort_keys=True, default=str).encode()).hexdigest()[:16]

            def train():

                source = ManifestSource.from_path(self.manifest)
                train_set = source.dataset("train", len(source.rows), mods)
                self.log(f"  training a {pair[0]}–{pair[1]} scorer on {len(train_set)} pairs")
                return train_scorer(mods, train_set, steps=self.scorer_steps, seed=self.seed)

            self.scorers[pair] = get_scorer(self.cache_dir, key, mods, train)
        return self.scorers[pair]

    def score(self, given: str, x_given: torch.Tensor, target: str, x_target: torch.Tensor) -> dict:
        """Similarity of each generated target to its input, and R-precision: the generated target
        retrieving its own input among ``pool - 1`` others."""
        scorer = self.scorer(given, target)
        pool = min(100, len(x_given))
        ordered = (x_given, x_target) if scorer.names[0] == given else (x_target, x_given)
        retrieval = scorer.retrieval(*ordered, k=1, pool=pool)
        return {"similarity": float(scorer.similarity(*ordered).mean()),
                "r_precision": retrieval[f"{target}->{given}/recall@1"], "pool": pool}

    def run(self) -> dict:
        t0 = time.perf_counter()
        coh, fid = {}, {}
        ceiling = {}
        for given, target in model_directions(self.pipe):
            if not all(m in self.data.tensors for m in (*given, target)):
                continue
            out = generate_tensors(self.pipe, {m: self.data.tensors[m] for m in given}, target,
                                   seed=self.seed, temperature=self.temperature, **self.options)
            per_given = {g: self.score(g, self.data.tensors[g], target, out) for g in given}
            for g in given:
                ceiling.setdefault(f"{g}<->{target}", self.score(g, self.data.tensors[g], target,
                                                                 self.data.tensors[target]))
            name = direction_name(given, target)
            coh[name] = {"similarity": float(np.mean([v["similarity"] for v in per_given.values()])),
                         "r_precision": float(np.mean([v["r_precision"] for v in per_given.values()])),
                         "per_given": per_given}
            if target == "text":
                texts = self.pipe.modalities["text"].decode(out)
                coh[name]["distinct_2"], coh[name]["self_bleu"] = distinct_n(texts, 2), self_bleu(texts[:300])
            elif len(given) == 1 and target not in fid:
                fid[target] = self.fid(given[0], target, out)
            self.log(f"  {name:28s} R-precision {coh[name]['r_precision']:.3f}")
        return {"coherence": coh, "real_pairs": ceiling, "fid": fid, "seconds": round(time.perf_counter() - t0, 1)}

    def fid(self, given: str, target: str, generated: torch.Tensor) -> float:
        from torchmetrics.image.fid import FrechetInceptionDistance

        scorer = self.scorer(given, target)
        real = scorer.embed(target, self.data.tensors[target]).detach()
        fake = scorer.embed(target, generated).detach()
        metric = FrechetInceptionDistance(feature=PrecomputedFeatures(real.shape[1]))
        metric.update(real.double(), real=True)
        metric.update(fake.double(), real=False)
        return float(metric.compute())
