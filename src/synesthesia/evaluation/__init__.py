"""Evaluation of generated samples: attribute oracles, coherence, fidelity (FID/KID, precision
and recall on oracle features), diversity and captioning scores.

Everything here is model-independent: it reads raw samples in the world's own formats (uint8
images and videos, float waveforms, caption strings) and attribute codes.
"""

from synesthesia.evaluation.captioning import cider_d, cider_d_scores, corpus_bleu, tokenize
from synesthesia.evaluation.attribute_coherence import Coherence, chance_coherence, coherence, oracle_coherence
from synesthesia.evaluation.diversity import distinct_n, entropy, entropy_ratio, self_bleu
from synesthesia.evaluation.fidelity import (extract_features, fid, fidelity_scores, kid,
                                             precision_recall)
from synesthesia.evaluation.oracles import (DEFAULT_TRAINING, Oracle, OracleError, OracleTraining,
                                            TextOracle, get_oracle, get_oracles, oracle_world)
from synesthesia.evaluation.scorer import (ContrastiveScorer, ScorerError, get_scorer, load_scorer,
                                           retrieval_metrics, train_scorer)

__all__ = [
    "Coherence", "DEFAULT_TRAINING", "Oracle", "OracleError", "OracleTraining", "TextOracle",
    "chance_coherence", "cider_d", "cider_d_scores", "coherence", "corpus_bleu", "distinct_n",
    "entropy", "entropy_ratio", "extract_features", "fid", "fidelity_scores", "get_oracle",
    "get_oracles", "kid", "oracle_coherence", "oracle_world", "precision_recall", "self_bleu",
    "tokenize",
    "ContrastiveScorer", "ScorerError", "get_scorer", "load_scorer", "retrieval_metrics",
    "train_scorer",
]
