"""Coherence: does a generated sample show the attributes it was asked for?

A generated sample is read back by an oracle (:mod:`synesthesia.world.judges.oracles`) and the
codes it reads are compared with the codes the conditioning asked for — the cross-modal
coherence of Shi et al. (2019) and Daunhawer et al. (2022), scored per attribute and strictly
(all attributes right at once) as in CdSprites+ (Sejnova et al., 2024).

Codes are dicts attribute -> int64 array (N,). In the truth, ``-1`` means "not specified" (a
partial caption leaves the attribute free) and that entry is not scored; a prediction of ``-1``
(a caption the parser cannot read) is always wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synesthesia.errors import SynesthesiaError

UNSPECIFIED = -1


@dataclass(frozen=True)
class Coherence:
    """``strict``: fraction of samples with every specified attribute right; ``per_attribute``:
    accuracy per attribute over the samples that specify it; ``counts``: how many samples each
    score averages over (``strict`` under the key ``"strict"``)."""

    strict: float
    per_attribute: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        """Mean of the per-attribute accuracies (nan when there are none)."""
        vals = [v for v in self.per_attribute.values() if not np.isnan(v)]
        return float(np.mean(vals)) if vals else float("nan")

    def to_dict(self, prefix: str = "coherence") -> dict[str, float]:
        """Flat dict for metrics files: ``coherence``, ``coherence/<attribute>``."""
        out = {prefix: self.strict}
        out.update({f"{prefix}/{a}": v for a, v in self.per_attribute.items()})
        return out


def _as_codes(codes: Mapping[str, Any], attributes: Sequence[str], what: str) -> np.ndarray:
    missing = [a for a in attributes if a not in codes]
    if missing:
        raise SynesthesiaError(f"{what} codes lack attribute(s) {', '.join(missing)}; "
                               f"they have {', '.join(codes) or 'none'}")
    cols = [np.asarray(codes[a], dtype=np.int64).reshape(-1) for a in attributes]
    if len({len(c) for c in cols}) > 1:
        raise SynesthesiaError(f"{what} codes have different lengths per attribute")
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0), dtype=np.int64)   # (N, A)


def coherence(predicted: Mapping[str, Any], truth: Mapping[str, Any],
              attributes: Sequence[str] | None = None) -> Coherence:
    """Coherence of ``predicted`` codes against ``truth`` codes.

    ``attributes`` defaults to those of ``truth`` that ``predicted`` also has. Samples whose truth
    specifies none of the attributes do not count towards ``strict``; an attribute no sample
    specifies scores nan.
    """
    if attributes is None:
        attributes = [a for a in truth if a in predicted]
    attributes = list(attributes)
    if not attributes:
        raise SynesthesiaError("no attribute to score: the truth and the predictions share none")
    pred = _as_codes(predicted, attributes, "predicted")                      # (N, A)
    true = _as_codes(truth, attributes, "true")                              # (N, A)
    if pred.shape != true.shape:
        raise SynesthesiaError(f"{len(pred)} predictions for {len(true)} true samples; "
                               "give one prediction per sample")
    given = true != UNSPECIFIED                                              # (N, A)
    right = (pred == true) | ~given                                          # (N, A)
    scored = given.any(axis=1)                                               # (N,)
    per, counts = {}, {}
    for j, a in enumerate(attributes):
        rows = given[:, j]
        counts[a] = int(rows.sum())
        per[a] = float((pred[rows, j] == true[rows, j]).mean()) if counts[a] else float("nan")
    counts["strict"] = int(scored.sum())
    strict = float(right[scored].all(axis=1).mean()) if counts["strict"] else float("nan")
    return Coherence(strict, per, counts)


def chance_coherence(truth: Mapping[str, Any], attributes: Sequence[str] | None = None) -> Coherence:
    """The coherence expected from predictions drawn independently of the truth from the same
    marginals (e.g. shuffled pairs): ``sum_k p_k**2`` per attribute and, treating attributes as
    independent, their product for ``strict``. Entries of -1 are left out of the marginals."""
    attributes = list(truth) if attributes is None else list(attributes)
    per, counts = {}, {}
    for a in attributes:
        codes = np.asarray(truth[a], dtype=np.int64)
        codes = codes[codes != UNSPECIFIED]
        counts[a] = len(codes)
        p = np.bincount(codes) / len(codes) if len(codes) else np.zeros(0)
        per[a] = float((p ** 2).sum()) if len(codes) else float("nan")
    strict = float(np.prod([v for v in per.values() if not np.isnan(v)]))
    return Coherence(strict, per, counts)


def oracle_coherence(oracle: Any, generated: Any, truth: Mapping[str, Any]) -> Coherence:
    """Coherence of ``generated`` raw samples (what ``oracle.predict`` reads) against the codes
    they were conditioned on, over the attributes the oracle reads."""
    attributes = [a for a in oracle.attributes if a in truth]
    return coherence(oracle.predict(generated), truth, attributes)
