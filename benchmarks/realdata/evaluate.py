"""Scoring a trained run on the benchmark's test split.

Fashion-MNIST (labelled): every direction the run serves between image, caption and speech is
generated from the first ``n`` test samples and read back by a judge (:mod:`realdata.judges`):
generated images by the image classifier (class accuracy, and FID on its features against the
real test images), generated captions by the label parser, generated speech by the speech
classifier after a Griffin-Lim round trip (as a listener would get it). Emoji (no classes): the
project's contrastive scorers (:func:`synesthesia.evaluation.evaluate` on the dataset), with the
real pairs as the ceiling.

All generation goes through :func:`generate`, the one adapter to the pipeline.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from realdata import judges as J
from synesthesia.evaluation.fidelity import fid
from synesthesia.evaluation.generation import generate_tensors
from synesthesia.modalities.base import InputAdjusted

MEDIA = ("image", "audio")


def generate(pipe, given: dict[str, torch.Tensor], target: str, seed: int = 0, **options) -> torch.Tensor:
    """``target`` in model form for each row of ``given`` (the one place that calls the pipeline)."""
    return generate_tensors(pipe, given, target, seed=seed, **options)


@dataclass
class TestData:
    """The first ``n`` test samples: model-form tensors per modality, class labels (None for a
    dataset without classes, such as emoji), rows."""

    tensors: dict[str, torch.Tensor]
    labels: torch.Tensor | None
    rows: list[dict] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.labels) if self.labels is not None else len(self.rows)


def test_data(dataset: Path, modalities: dict, n: int, split: str = "test") -> TestData:
    rows = J.rows(dataset, split, n=n)
    tensors = {m: J.encode(dataset, rows, modalities[m]) for m in MEDIA if m in modalities}
    if "text" in modalities:
        tensors["text"] = modalities["text"].encode([r["text"][0] for r in rows])
    labels = J.labels(rows) if all("label" in r for r in rows) else None
    return TestData(tensors, labels, rows)


def as_read(modality, x: torch.Tensor) -> torch.Tensor:
    """What a judge reads from a generated tensor: the decoded file's content encoded again
    (8-bit pixels; speech through Griffin-Lim)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputAdjusted)
        if modality.name == "image":
            return torch.from_numpy(modality.decode_batch(x)).permute(0, 3, 1, 2).float().div(255)
        if modality.name == "audio":
            return J.round_trip(modality, x)
    return x


def score_labelled(pipe, data: TestData, judges: dict, seed: int = 0, fid_real: torch.Tensor | None = None,
                   log=print, targets: tuple[str, ...] | None = None, **options) -> dict[str, dict]:
    """Per direction (to one of ``targets``, default all): the share of outputs whose class, as the
    judge reads it, is the input's; FID for images; and the outputs (for the grids)."""
    parser = J.parser()
    scores = {}
    for given, target in pipe.directions():
        if not all(m in data.tensors for m in (*given, target)) or (targets is not None and target not in targets):
            continue
        out = generate(pipe, {g: data.tensors[g] for g in given}, target, seed=seed, **options)
        name = f"{'+'.join(given)}->{target}"
        mod = pipe.modalities[target]
        entry: dict = {"given": list(given), "target": target, "n": data.n}
        if target == "text":
            captions = mod.decode(out)
            read = torch.tensor([-1 if k is None else k for k in parser.parse_all(captions)])
            entry.update(outputs=captions, unreadable=float((read < 0).float().mean()))
        else:
            seen = as_read(mod, out)
            read = judges[target].predict(seen)
            entry["outputs"] = out
            if target == "image":
                entry["fid"] = fid(fid_real if fid_real is not None else data.tensors["image"], seen,
                                   judges["image"].feature_extractor())
        hit = read == data.labels
        entry.update(accuracy=float(hit.float().mean()), read=read.tolist(),
                     per_class={c: float(hit[data.labels == k].float().mean()) for k, c in
                                enumerate(judges["image"].classes) if bool((data.labels == k).any())})
        scores[name] = entry
        log(f"    {name:22s} class accuracy {entry['accuracy']:.3f}" +
            (f", FID {entry['fid']:.2f}" if "fid" in entry else ""))
    return scores


def reconstructions(pipe, data: TestData, judges: dict, seed: int = 0) -> dict[str, float]:
    """A joint VAE's ceiling per modality: class accuracy of each test sample decoded from its own
    encoding (image->image, text->text, audio->audio)."""
    model, out = pipe.model, {}
    parser = J.parser()
    g = pipe.generator(seed)
    for m in data.tensors:
        with torch.no_grad():
            x = model.generate({m: data.tensors[m]}, [m], generator=g)[m]
        mod = pipe.modalities[m]
        if m == "text":
            read = torch.tensor([-1 if k is None else k for k in parser.parse_all(mod.decode(x))])
        else:
            read = judges[m].predict(as_read(mod, x))
        out[m] = float((read == data.labels).float().mean())
    return out


def tokenizer_ceiling(tokenizer_run: Path, data: TestData, judges: dict) -> dict[str, float]:
    """What the autoregressive generator can reach at best: class accuracy and FID of the
    tokenizer's reconstructions of the real test images."""
    from synesthesia.pipeline import load

    model = load(tokenizer_run).runs[0].model
    with torch.no_grad():
        rec = torch.cat([model.reconstruct(data.tensors["image"][i:i + 250]) for i in range(0, data.n, 250)])
    seen = as_read(J.modality("image"), rec.clamp(0, 1))
    return {"accuracy": judges["image"].accuracy(seen, data.labels),
            "fid": fid(data.tensors["image"], seen, judges["image"].feature_extractor())}


def score_paired(run: Path, dataset: Path, n: int, out: Path, log=print) -> dict:
    """The project's own evaluation on users' files: contrastive scorers and real-pair ceilings."""
    from synesthesia.evaluation.evaluate import evaluate

    return evaluate(run, data=dataset, n=n, out=out, log=log, overwrite=True, cycle_rounds=0)


def score_paired_training(pipe, dataset: Path, n: int, seed: int = 0, log=print) -> dict[str, dict]:
    """The same scorer figures on ``n`` training samples instead of test ones: per direction the
    generated target's R-precision and the real pairs' (the scorers are those the test
    evaluation trained, from the cache, and they trained on these samples: both figures are
    higher than on unseen samples; what matters is their ratio against the test one)."""
    from synesthesia.evaluation.evaluate import file_samples
    from synesthesia.evaluation.paired import PairedEvaluation

    evaluated, scorer_data, selection, fingerprint, keys = file_samples(pipe, dataset, n, log=log, training=True)
    suite = PairedEvaluation(pipe, evaluated, scorer_data, f"{fingerprint}-{keys}", selection, seed, log=log)
    out = {}
    for given, target in pipe.directions():
        if len(given) != 1 or not all(m in pipe.modalities for m in (*given, target)):
            continue
        ceiling: dict = {}
        row = suite.direction(given, target, ceiling, {})
        if row is not None:
            out[f"{given[0]}->{target}"] = {"r_precision": row["r_precision"], "samples": row["samples"],
                                            "ceiling": ceiling[f"{given[0]}<->{target}"]["r_precision"]}
    return out


def grid_samples(entry: dict, k: int) -> np.ndarray:
    """Indices of ``k`` samples to show: the first ones, one class after another when possible."""
    return np.arange(min(k, entry["n"]))
