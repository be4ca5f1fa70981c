"""Users' samples for evaluation: which are evaluated, which train the scorers, and their tensors.

A sample is a value or file per modality, one or more captions and an optional split
(:class:`Sample`; read by :func:`read_samples`). :func:`choose_samples` splits them:

* evaluated: the data's ``test`` split, else its ``val``/``validation`` split, else all of it —
  except when the data is the file the run trained on and it has no splits, then only the rows
  training held out (the last 10 %, as training cut them); the first ``n`` of these;
* scorer pairs: every other sample. When fewer than ``MIN_SCORER_PAIRS`` are left, the scorers
  also train on the evaluated samples, and the metrics say so (the real-pair ceiling is then
  optimistic).

:func:`encode_samples` turns samples into model-form tensors with presence masks; a file that
cannot be read marks that modality absent for its sample and is counted, never fatal alone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from synesthesia.data.store import TensorDataset, compact, expand
from synesthesia.errors import SynesthesiaError
from synesthesia.evaluation.generation import EvaluationError
from synesthesia.modalities.base import Modality

MODALITY_NAMES = ("image", "text", "audio", "video")
EVAL_SPLITS = ("test", "val", "validation")
MIN_SCORER_PAIRS = 200


@dataclass
class Sample:
    """One sample of users' data: a raw value or an absolute path per modality (text excluded),
    its captions (any number; the first is the model's text input) and its split, if named."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)
    captions: list[str] = field(default_factory=list)
    split: str | None = None

    def has(self, modality: str) -> bool:
        return bool(self.captions) if modality == "text" else modality in self.values


def read_samples(path: str | Path) -> list[Sample]:
    """The samples of a JSONL manifest: a path per modality relative to the manifest, captions as
    ``"caption"``, ``"captions": [...]`` or a ``"text"`` file, an optional ``"split"``."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"no data at {path}: give a manifest.jsonl of your files or a world cache folder")
    samples = []
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise EvaluationError(f"{path}:{k} is not valid JSON: {err}") from None
        if not isinstance(row, dict):
            raise EvaluationError(f"{path}:{k} must be a JSON object, got {type(row).__name__}")
        captions = row.get("captions") or ([row["caption"]] if "caption" in row else [])
        if not captions and "text" in row:
            from synesthesia.modalities.text import read_caption

            try:
                captions = [read_caption(path.parent / row["text"])]
            except SynesthesiaError:
                captions = []
        values = {m: path.parent / row[m] for m in MODALITY_NAMES if m != "text" and m in row}
        samples.append(Sample(str(row.get("id", k)), values, [str(c) for c in captions], row.get("split")))
    if not samples:
        raise EvaluationError(f"{path} lists no samples")
    return samples


def data_fingerprint(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


@dataclass
class Selection:
    evaluated: list[Sample]
    scorer: list[Sample]
    why: str                          # how the evaluated samples were chosen
    scorer_includes_evaluated: bool


def choose_samples(samples: Sequence[Sample], n: int, trained_on_this: bool = False) -> Selection:
    """Evaluated samples and scorer-training samples (see the module docstring)."""
    splits = {s.split for s in samples if s.split}
    split = next((sp for sp in EVAL_SPLITS if sp in splits), None)
    if split is not None:
        pool = [s for s in samples if s.split == split]
        why = f"the {split!r} split"
    elif trained_on_this:
        pool = list(samples[max(1, int(len(samples) * 0.9)):])
        why = "the last 10 % (training used the rest)"
    else:
        pool, why = list(samples), "all samples"
    evaluated = pool[:n]
    chosen = {id(s) for s in evaluated}
    scorer = [s for s in samples if id(s) not in chosen]
    include = len(scorer) < MIN_SCORER_PAIRS
    return Selection(evaluated, scorer + evaluated if include else scorer, why, include)


@dataclass
class EncodedSamples:
    """Model-form tensors of samples (a placeholder row where a sample lacks a modality) with
    presence masks, every sample's captions, and what could not be read."""

    data: TensorDataset
    references: list[list[str]]
    rejected: dict[str, int]

    def rows(self, modalities: Sequence[str]) -> torch.Tensor:
        """Indices of the samples that have every modality in ``modalities``."""
        ok = torch.ones(len(self.data), dtype=torch.bool)
        for m in modalities:
            ok &= self.data.masks[m]
        return torch.nonzero(ok).squeeze(1)

    def tensors(self, modality: str, rows: torch.Tensor) -> torch.Tensor:
        """Model-form tensors of one modality for ``rows``."""
        return expand(self.data.stored[modality][rows])


def _raw(sample: Sample, modality: str) -> Any:
    return sample.captions[0] if modality == "text" else sample.values[modality]


def _encode_one_by_one(modality: Modality, raws: list) -> tuple[list[torch.Tensor | None], int]:
    out, bad = [], 0
    for r in raws:
        try:
            out.append(modality.encode_data([r])[0])
        except SynesthesiaError:
            out.append(None)
            bad += 1
    return out, bad


def encode_samples(samples: Sequence[Sample], modalities: Mapping[str, Modality], chunk: int = 256,
                   log: Callable[[str], None] = print, what: str = "samples") -> EncodedSamples:
    """Encode ``samples`` for ``modalities`` in chunks (see :class:`EncodedSamples`)."""
    stored, masks, rejected = {}, {}, {}
    for m, modality in modalities.items():
        present = [s.has(m) for s in samples]
        rows: list[torch.Tensor | None] = [None] * len(samples)
        have = [i for i, p in enumerate(present) if p]
        bad = 0
        for lo in range(0, len(have), chunk):
            part = have[lo:lo + chunk]
            raws = [_raw(samples[i], m) for i in part]
            try:
                encoded = list(modality.encode_data(raws))
            except SynesthesiaError:                     # find the bad file(s); keep the rest
                encoded, b = _encode_one_by_one(modality, raws)
                bad += b
            for i, x in zip(part, encoded):
                rows[i] = x
        template = next((x for x in rows if x is not None), None)
        if template is None:
            continue
        masks[m] = torch.tensor([x is not None for x in rows], dtype=torch.bool)
        stored[m] = compact(m, torch.stack([template if x is None else x for x in rows]))
        if bad:
            rejected[m] = bad
            log(f"  {bad} {m} file(s) of the {what} could not be read and are left out")
    if not stored:
        raise EvaluationError(f"none of the {what} has a modality of the model ({', '.join(modalities)})")
    return EncodedSamples(TensorDataset(stored, masks), [list(s.captions) for s in samples], rejected)
