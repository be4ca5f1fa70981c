"""Users' samples for evaluation: which are evaluated, which train the scorers, and their tensors.

A sample is a file per modality, one or more captions and an optional split (:class:`Sample`;
read by :func:`read_samples` from any layout :mod:`synesthesia.data.readers` knows).
:func:`choose_samples` splits them:

* evaluated: the data's ``test`` split, else its ``val``/``validation`` split, else all of it —
  except when the data is the file the run trained on and it has no splits, then only the rows
  training held out (the last 10 %, as training cut them); the first ``n`` of these;
* scorer pairs: every other sample. When fewer than ``MIN_SCORER_PAIRS`` are left, the scorers
  also train on the evaluated samples, and the metrics say so (the real-pair ceiling is then
  optimistic).

:func:`encode_samples` turns samples into model-form tensors with presence masks; a file that
cannot be read marks that modality absent for its sample and is counted, never fatal alone; a
member of a WebDataset shard is copied to a temporary file for the codecs.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from synesthesia.data.errors import SampleError
from synesthesia.data.plan import fingerprint, read_text_media
from synesthesia.data.prepared import CODEC_KEYS, PreparedSource
from synesthesia.data.readers import open_reader
from synesthesia.data.readers.base import Media
from synesthesia.data.store import TensorDataset, compact, expand
from synesthesia.errors import SynesthesiaError
from synesthesia.evaluation.generation import EvaluationError
from synesthesia.modalities.base import Modality, ModalityError

EVAL_SPLITS = ("test", "val", "validation")
MIN_SCORER_PAIRS = 200


@dataclass
class Sample:
    """One sample of users' data: a file (a reader's ``Media``), a path or a raw value per
    modality (text excluded), its captions (any number; the first is the model's text input), its
    split if the layout names one, and why the layout's description of it is unusable, if it is."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)
    captions: list[str] = field(default_factory=list)
    split: str | None = None
    error: str | None = None

    def has(self, modality: str) -> bool:
        if self.error:
            return False
        return bool(self.captions) if modality == "text" else modality in self.values


def read_samples(path: str | Path, format: str | None = None,
                 options=None) -> tuple[list[Sample], str]:
    """The samples of users' data in any layout :mod:`synesthesia.data.readers` reads (a JSONL
    manifest, HF folders, COCO, Karpathy, Flickr30k, AudioCaps, Clotho, MSR-VTT, WebDataset),
    with the split the layout names (None where it names none) and the captions of caption files
    read; and the data's fingerprint. A sample the layout describes badly is kept with its
    ``error`` (it is counted as unreadable, never fatal alone)."""
    reader = open_reader(path, format, options)
    described = list(reader.samples())
    if not described:
        raise EvaluationError(f"{path}: the {reader.format} layout lists no samples")
    samples, handles = [], {}
    try:
        for s in described:
            captions = [c.strip() for c in s.captions if isinstance(c, str) and c.strip()]
            error = s.error
            if "text" in s.media:
                try:
                    captions += [c.strip() for c in read_text_media(s.media["text"], handles) if c.strip()]
                except SampleError as err:
                    error = error or f"{err.path}: {err.reason}"
            values = {m: media for m, media in s.media.items() if m != "text"}
            samples.append(Sample(s.key, values, list(dict.fromkeys(captions)), s.split, error))
    finally:
        for f in handles.values():
            f.close()
    return samples, fingerprint(reader, described)


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


def _materialise(value: Any, folder: Path, k: int) -> Any:
    """A reader's ``Media`` -> a path the codecs read (a tar member copied into ``folder``); any
    other value as it is. A bad reference is a ModalityError (counted by the caller)."""
    if not isinstance(value, Media):
        return value
    if value.error:
        raise ModalityError(f"{value.name}: {value.error}")
    if not value.member:
        return value.path
    if value.size <= 0 or value.size > 2 << 30:
        raise ModalityError(f"{value.name}: a tar member of {value.size:,} bytes")
    with open(value.path, "rb") as f:
        f.seek(value.offset)
        data = f.read(value.size)
    if len(data) != value.size:
        raise ModalityError(f"{value.name}: the tar member is truncated")
    target = folder / f"{k}{value.suffix}"
    target.write_bytes(data)
    return target


def _encode_chunk(modality: Modality, raws: list) -> tuple[list[torch.Tensor | None], int]:
    """Encode a chunk (files materialised first); on an error, item by item to find the bad ones."""
    with tempfile.TemporaryDirectory(prefix="synesthesia-eval-") as tmp:
        ready, bad = [], 0
        for k, r in enumerate(raws):
            try:
                ready.append(_materialise(r, Path(tmp), k))
            except SynesthesiaError:
                ready.append(None)
        good = [r for r in ready if r is not None]
        try:
            encoded = iter(modality.encode_data(good)) if good else iter(())
            return [None if r is None else next(encoded) for r in ready], len(ready) - len(good)
        except SynesthesiaError:
            pass
        out = []
        for r in ready:
            try:
                out.append(None if r is None else modality.encode_data([r])[0])
            except SynesthesiaError:
                out.append(None)
            bad += out[-1] is None
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
            encoded, b = _encode_chunk(modality, [_raw(samples[i], m) for i in part])
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
    described = sum(1 for s in samples if s.error)
    if described:
        rejected["sample"] = described
        log(f"  {described} of the {what} are described unusably by the layout and are left out")
    if not stored:
        raise EvaluationError(f"none of the {what} has a modality of the model ({', '.join(modalities)})")
    return EncodedSamples(TensorDataset(stored, masks), [list(s.captions) for s in samples], rejected)


PREPARED_SCORER_SAMPLES = 5000       # a prepared folder's training samples the scorers read at most


def prepared_samples(path: str | Path, modalities: Mapping[str, Modality],
                     n: int) -> tuple[EncodedSamples, EncodedSamples, Selection, str]:
    """Evaluated and scorer samples of a prepared folder (``synesthesia data prepare``): its test
    (else val) split and its train split, read from the shards as stored. The run must read
    what the folder holds: the same codec settings and the same tokenizer."""
    source = PreparedSource(path)
    for m, modality in modalities.items():
        stored = source.manifest["modalities"].get(m)
        if stored is None:
            continue
        clash = [k for k in CODEC_KEYS if k in stored and modality.config().get(k) != stored[k]]
        if clash:
            raise EvaluationError(f"{path} was prepared with {', '.join(f'{k}={stored[k]}' for k in clash)} "
                                  f"for {m}, the run reads {', '.join(f'{k}={modality.config().get(k)}' for k in clash)}; "
                                  "evaluate on the data it was prepared from")
    if "text" in modalities and "text" in source.modalities:
        folder_tok = json.loads((Path(path) / "assets" / "tokenizer.json").read_text(encoding="utf-8"))
        if folder_tok != json.loads(modalities["text"]._tok().to_str()):
            raise EvaluationError(f"{path} holds captions tokenized by another tokenizer than the run's; "
                                  "evaluate on the data it was prepared from")
    split = next((s for s in ("test", "val") if source.size(s)), None)
    if split is None or not source.size("train"):
        raise EvaluationError(f"{path} needs a test (or val) split and a train split to evaluate on; it has "
                              f"{ {k: v['n'] for k, v in source.manifest['splits'].items()} }")

    def load(name: str, count: int) -> EncodedSamples:
        ds = source.dataset(name, count, modalities)
        return EncodedSamples(TensorDataset(ds.stored, ds.masks), ds.references(range(len(ds))), {})

    evaluated = load(split, n)
    scorer = load("train", PREPARED_SCORER_SAMPLES)
    selection = Selection([], [], f"the {split!r} split of the prepared folder", False)
    return evaluated, scorer, selection, str(source.manifest.get("source", {}).get("fingerprint", ""))
