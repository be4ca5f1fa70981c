"""Captioning scores of generated text against reference captions.

* corpus BLEU-4 (Papineni et al., 2002), computed by torchmetrics on our tokenisation;
* CIDEr-D (Vedantam et al., 2015): for n = 1..4, the cosine similarity of TF-IDF weighted n-gram
  vectors of a candidate and each reference, with the candidate's counts clipped to the
  reference's and a Gaussian penalty on the length difference (sigma = 6), averaged over n and
  over references and scaled by 10 — as in the coco-caption reference implementation, with the
  IDF taken from the reference corpus (document = one sample's set of references).

Text is lower-cased and split into runs of letters and digits (punctuation dropped), like the
PTB tokenisation coco-caption applies before scoring.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from synesthesia.errors import SynesthesiaError

_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-case words (runs of letters and digits); punctuation and hyphens split words."""
    return _WORD.findall(text.lower())


def ngram_counts(tokens: Sequence[str], lo: int = 1, hi: int = 4) -> Counter:
    """Counts of every n-gram (as a tuple) with ``lo <= n <= hi``."""
    out: Counter = Counter()
    for n in range(lo, hi + 1):
        out.update(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return out


def _reference_lists(hypotheses: Sequence[str], references: Sequence) -> list[list[str]]:
    """References as one list per hypothesis (a plain string becomes a list of one)."""
    if isinstance(hypotheses, str):
        raise SynesthesiaError("give a list of captions, not one string")
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    if len(refs) != len(hypotheses):
        raise SynesthesiaError(f"{len(hypotheses)} captions but {len(refs)} reference sets; give "
                               "one reference (or list of references) per caption")
    if not refs or any(len(r) == 0 for r in refs):
        raise SynesthesiaError("every caption needs at least one reference")
    return refs


def corpus_bleu(hypotheses: Sequence[str], references: Sequence, n: int = 4) -> float:
    """Corpus BLEU-``n`` in [0, 1] (clipped n-gram precisions pooled over the corpus, brevity
    penalty on the corpus length; torchmetrics ``bleu_score``). ``references[i]`` is a string or a
    list of strings for ``hypotheses[i]``."""
    from torchmetrics.functional.text import bleu_score

    refs = _reference_lists(hypotheses, references)
    preds = [" ".join(tokenize(h)) for h in hypotheses]
    target = [[" ".join(tokenize(r)) for r in rs] for rs in refs]
    return float(bleu_score(preds, target, n_gram=n))


class _TfIdf:
    """TF-IDF n-gram vectors with document frequencies from a reference corpus."""

    def __init__(self, reference_sets: Sequence[Sequence[Counter]], n: int) -> None:
        self.n = n
        self.df: Counter = Counter()
        for counts in reference_sets:                     # one document = one sample's references
            self.df.update(set(g for c in counts for g in c))
        self.log_docs = math.log(float(len(reference_sets)))

    def vector(self, counts: Counter) -> tuple[list[dict], np.ndarray, int]:
        """Per-order weights {n-gram: tf * idf}, their L2 norms (n,), and the length used by the
        penalty (the number of bigrams, as in coco-caption)."""
        vec: list[dict] = [defaultdict(float) for _ in range(self.n)]
        norm = np.zeros(self.n)
        for g, tf in counts.items():
            w = tf * (self.log_docs - math.log(max(1.0, self.df[g])))
            vec[len(g) - 1][g] = w
            norm[len(g) - 1] += w * w
        length = sum(c for g, c in counts.items() if len(g) == 2)
        return vec, np.sqrt(norm), length


def _cider_d_pair(hyp: tuple, ref: tuple, sigma: float) -> float:
    """Mean over n of the clipped, length-penalised cosine of one candidate and one reference."""
    (vh, nh, lh), (vr, nr, lr) = hyp, ref
    penalty = math.exp(-((lh - lr) ** 2) / (2 * sigma ** 2))
    vals = np.zeros(len(vh))
    for k in range(len(vh)):
        dot = sum(min(w, vr[k].get(g, 0.0)) * vr[k].get(g, 0.0) for g, w in vh[k].items())
        if nh[k] != 0 and nr[k] != 0:
            dot /= nh[k] * nr[k]
        vals[k] = dot * penalty
    return float(vals.mean())


def cider_d_scores(hypotheses: Sequence[str], references: Sequence, n: int = 4,
                   sigma: float = 6.0) -> np.ndarray:
    """CIDEr-D of each caption (N,), in [0, 10]; the corpus score is their mean.

    A caption of at least ``n`` words equal to its only reference scores 10; a shorter one loses
    the orders it has no n-grams of (as in coco-caption), and n-grams that occur in every
    sample's references weigh nothing (their IDF is 0)."""
    refs = _reference_lists(hypotheses, references)
    ref_counts = [[ngram_counts(tokenize(r), 1, n) for r in rs] for rs in refs]
    tfidf = _TfIdf(ref_counts, n)
    scores = np.zeros(len(hypotheses))
    for i, h in enumerate(hypotheses):
        hv = tfidf.vector(ngram_counts(tokenize(h), 1, n))
        pairs = [_cider_d_pair(hv, tfidf.vector(rc), sigma) for rc in ref_counts[i]]
        scores[i] = 10.0 * float(np.mean(pairs))
    return scores


def cider_d(hypotheses: Sequence[str], references: Sequence, n: int = 4, sigma: float = 6.0) -> float:
    """Corpus CIDEr-D: the mean of :func:`cider_d_scores`."""
    return float(cider_d_scores(hypotheses, references, n, sigma).mean())
