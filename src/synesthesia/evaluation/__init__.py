"""Evaluation of generated samples: attribute oracles, coherence, fidelity (FID/KID, precision
and recall on oracle features), diversity and captioning scores.

Everything here is model-independent: it reads raw samples in the world's own formats (uint8
images and videos, float waveforms, caption strings) and attribute codes, judged by the world's
oracles (:mod:`synesthesia.world.judges`) or, on users' data, by contrastive scorers.
"""

from synesthesia.evaluation.captioning import cider_d, cider_d_scores, corpus_bleu, tokenize
from synesthesia.evaluation.diversity import distinct_n, entropy, entropy_ratio, self_bleu
from synesthesia.evaluation.fidelity import extract_features, fid, fidelity_scores, kid, precision_recall
from synesthesia.evaluation.scorer import (
                                             ContrastiveScorer,
                                             ScorerError,
                                             get_scorer,
                                             load_scorer,
                                             retrieval_metrics,
                                             train_scorer,
)

__all__ = [
    "cider_d", "cider_d_scores", "corpus_bleu", "distinct_n", "entropy", "entropy_ratio",
    "extract_features", "fid", "fidelity_scores", "kid", "precision_recall", "self_bleu", "tokenize",
    "ContrastiveScorer", "ScorerError", "get_scorer", "load_scorer", "retrieval_metrics",
    "train_scorer",
]
