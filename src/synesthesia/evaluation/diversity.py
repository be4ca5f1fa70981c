"""Diversity of generated samples.

* attributes the conditioning leaves free should vary as they do in the data: the entropy of the
  generated values (read by an oracle) relative to the data's entropy, 1 for a model that varies
  them like the data, 0 for one that always makes the same choice;
* for text, distinct-n (Li et al., 2016: distinct n-grams / all n-grams) and self-BLEU
  (Zhu et al., 2018, Texygen: the mean BLEU of each text against all the others as references;
  lower is more diverse).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from synesthesia.errors import SynesthesiaError
from synesthesia.evaluation.captioning import ngram_counts, tokenize


def entropy(codes: Any) -> float:
    """Plug-in Shannon entropy (nats) of the empirical distribution of codes (N,); -1 entries
    (unreadable) count as one more value."""
    codes = np.asarray(codes, dtype=np.int64).reshape(-1)
    if len(codes) == 0:
        return float("nan")
    _, counts = np.unique(codes, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def subsample_entropy(codes: Any, size: int, draws: int = 64, seed: int = 0) -> float:
    """Mean plug-in entropy of ``draws`` random subsets of ``size`` codes (without replacement).
    The plug-in estimate is biased low for small samples; comparing against this reference at
    the same sample size cancels the bias."""
    codes = np.asarray(codes, dtype=np.int64).reshape(-1)
    if size >= len(codes):
        return entropy(codes)
    rng = np.random.default_rng(seed)
    return float(np.mean([entropy(rng.choice(codes, size, replace=False)) for _ in range(draws)]))


def entropy_ratio(generated: Mapping[str, Any], data: Mapping[str, Any],
                  attributes: Sequence[str] | None = None, groups: Any = None,
                  seed: int = 0) -> dict[str, float]:
    """Attribute -> entropy of generated values / entropy of the data's values.

    ``generated`` and ``data`` map attribute -> codes; ``attributes`` (default: all of
    ``generated`` that ``data`` has) should be the ones the conditioning leaves free.
    ``groups`` (N,) labels generated samples that share one conditioning input: entropy is then
    taken within each group and averaged (what matters is variety *given* the condition), and the
    data reference is the entropy of random data subsets of the same sizes. Attributes the data
    does not vary score nan. ``"mean"`` holds the mean over the attributes.
    """
    attributes = [a for a in generated if a in data] if attributes is None else list(attributes)
    if not attributes:
        raise SynesthesiaError("no attribute to measure diversity on")
    n = len(np.asarray(generated[attributes[0]]).reshape(-1))
    groups = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups).reshape(-1)
    if len(groups) != n:
        raise SynesthesiaError(f"groups has {len(groups)} labels for {n} generated samples")
    members = [np.nonzero(groups == g)[0] for g in np.unique(groups)]
    sizes = np.array([len(m) for m in members])
    out: dict[str, float] = {}
    for a in attributes:
        gen, ref = np.asarray(generated[a]).reshape(-1), np.asarray(data[a]).reshape(-1)
        h_gen = np.mean([entropy(gen[m]) for m in members])
        h_size = {k: subsample_entropy(ref, int(k), seed=seed) for k in np.unique(sizes)}
        h_ref = np.mean([h_size[k] for k in sizes])
        out[a] = float(h_gen / h_ref) if h_ref > 1e-12 else float("nan")
    vals = [v for v in out.values() if not math.isnan(v)]
    out["mean"] = float(np.mean(vals)) if vals else float("nan")
    return out


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Distinct n-grams over all n-grams in the texts (Li et al., 2016); 0 when there are none."""
    total: Counter = Counter()
    for t in texts:
        total.update(ngram_counts(tokenize(t), n, n))
    count = sum(total.values())
    return len(total) / count if count else 0.0


def self_bleu(texts: Sequence[str], max_n: int = 4, eps: float = 0.1) -> float:
    """Mean sentence BLEU-``max_n`` of each text against all the other texts (Zhu et al., 2018).

    1 when every text is the same, lower when they differ. A zero n-gram match count is
    replaced by ``eps`` (the "method 1" smoothing of Chen & Cherry, 2014, as Texygen uses via
    NLTK); a text shorter than ``max_n`` words is scored on the orders it has. Cost is linear
    in the number of texts: for each n-gram only the two largest counts
    over all texts are kept, which gives the largest count among the *other* texts.
    """
    tokens = [tokenize(t) for t in texts]
    if len(tokens) < 2:
        raise SynesthesiaError("self-BLEU needs at least two texts")
    counts = [ngram_counts(t, 1, max_n) for t in tokens]
    top = _top_two(counts)
    lengths = np.unique([len(t) for t in tokens], return_counts=True)
    scores = [_self_bleu_one(i, counts[i], top, len(tokens[i]), lengths, max_n, eps)
              for i in range(len(tokens))]
    return float(np.mean(scores))


def _top_two(counts: Sequence[Counter]) -> dict[tuple, tuple[int, int, int]]:
    """n-gram -> (largest count, index of the text with it, second largest count)."""
    top: dict[tuple, tuple[int, int, int]] = {}
    for i, c in enumerate(counts):
        for g, k in c.items():
            best, owner, second = top.get(g, (0, -1, 0))
            top[g] = (k, i, best) if k > best else (best, owner, max(second, k))
    return top


def _closest_other_length(hyp_len: int, lengths: tuple[np.ndarray, np.ndarray]) -> int:
    """The reference length BLEU's brevity penalty uses: the other texts' length closest to
    ``hyp_len`` (the shorter on ties). ``lengths`` is (distinct lengths, how many texts have each)."""
    values, freq = lengths
    cand = values if freq[values == hyp_len].sum() > 1 else values[values != hyp_len]
    return int(cand[np.lexsort((cand, np.abs(cand - hyp_len)))[0]])


def _self_bleu_one(i: int, counts: Counter, top: Mapping, hyp_len: int,
                   lengths: tuple[np.ndarray, np.ndarray], max_n: int, eps: float) -> float:
    if hyp_len == 0:
        return 0.0
    matched, possible = np.zeros(max_n), np.zeros(max_n)
    for g, k in counts.items():
        best, owner, second = top[g]
        other = second if owner == i else best
        matched[len(g) - 1] += min(k, other)
        possible[len(g) - 1] += k
    ref_len = _closest_other_length(hyp_len, lengths)
    used = possible > 0
    if not used.any():
        return 0.0
    log_p = np.log(np.where(matched[used] > 0, matched[used], eps) / possible[used])
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return float(bp * math.exp(log_p.mean()))
