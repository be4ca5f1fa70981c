"""``evaluate(run, data, n, out)``: the whole evaluation of a trained run, as a dict and a report.

On the shapes world (the run's own, or a world cache given as ``data``) every metric of
:mod:`synesthesia.evaluation.suite` is computed with the oracles; on users' own files
(:func:`evaluate_files`) coherence is measured with contrastive scorers trained on the data's pairs
(:mod:`synesthesia.evaluation.paired`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from synesthesia.data.readers import detect_format
from synesthesia.data.user_source import reader_options
from synesthesia.evaluation.generation import EvalData, EvaluationError, direction_name, load_eval_data
from synesthesia.evaluation.paired import PairedEvaluation
from synesthesia.evaluation.paired_data import choose_samples, encode_samples, prepared_samples, read_samples
from synesthesia.evaluation.report import REPORT_FILES, write_report
from synesthesia.evaluation.scorer_fit import ScorerBudget
from synesthesia.evaluation.suite import WorldEvaluation
from synesthesia.io import check_out_folder
from synesthesia.pipeline import Pipeline, load
from synesthesia.runs import write_metrics
from synesthesia.world.attributes import ATTRIBUTES

# directions shown as sample grids in the report, when the model serves them
GRID_DIRECTIONS = ("text->image", "text->video", "audio->image", "image->text", "video->text",
                   "audio->text", "image->video", "prior->image")

def run_fingerprint(run: Path | None) -> str:
    if run is None or not (Path(run) / "model.safetensors").is_file():
        return "in-memory"
    h = hashlib.sha256((Path(run) / "model.safetensors").read_bytes())
    h.update((Path(run) / "config.yaml").read_bytes())
    return h.hexdigest()[:16]

def evaluate(run: str | Path | Any, data: str | Path | None = None, n: int = 1000,
             out: str | Path | None = None, seed: int = 0, temperature: float = 1.0,
             cycle_rounds: int = 3, oracle_dir: str | Path | None = None,
             log: Callable[[str], None] = print, scorer_dir: str | Path | None = None,
             scorer_budget: ScorerBudget | None = None, data_format: str | None = None,
             overwrite: bool = False, **generate_options) -> dict:
    """Evaluate ``run`` (a run folder or a loaded :class:`~synesthesia.pipeline.Pipeline`);
    with ``out`` also write ``metrics.json`` and ``report.html`` there. ``data`` is a world cache
    or users' data in any layout the data readers know (``data_format`` forces one); ``scorer_dir``
    and ``scorer_budget`` set where and how long the contrastive scorers for users' data train;
    an existing report in ``out`` is replaced only with ``overwrite``."""
    if out is not None:                                  # refuse a bad --out before minutes of work
        check_out_folder(out, REPORT_FILES, overwrite, create=False)
    pipe = run if isinstance(run, Pipeline) else load(run)
    if data is not None and is_users_data(data):
        metrics = evaluate_files(pipe, data, n, seed, temperature, log, scorer_dir, scorer_budget,
                                 data_format, **generate_options)
        grids = {}
    else:

        eval_data = load_eval_data(pipe, data, n)
        suite = WorldEvaluation(pipe, eval_data, seed, temperature, oracle_dir, log, **generate_options)
        metrics = suite.run(cycle_rounds)
        metrics.update({"data_fingerprint": eval_data.fingerprint, "n": eval_data.n})
        grids = world_grids(suite)
    metrics.update({"run": str(pipe.run) if pipe.run else "in-memory",
                    "run_fingerprint": run_fingerprint(pipe.run), "seed": seed, "temperature": temperature,
                    "generate_options": {k: v for k, v in generate_options.items()}})
    if out is not None:
        write_report(out, metrics, grids, overwrite=overwrite)
    if pipe.run is not None and not isinstance(run, Pipeline):
        record(pipe.run, metrics)
    return metrics

def is_users_data(data: str | Path) -> bool:
    """True unless ``data`` is a world cache folder: users' files (any layout the data readers
    know) are scored by contrastive scorers."""

    if not Path(data).exists():
        raise EvaluationError(f"--data {data} does not exist; give a dataset folder or file, or a world cache")
    return detect_format(Path(data)) != "world"

def evaluate_files(pipe, data: str | Path, n: int, seed: int = 0, temperature: float = 1.0,
                   log: Callable[[str], None] = print, scorer_dir: str | Path | None = None,
                   budget: ScorerBudget | None = None, data_format: str | None = None,
                   **generate_options) -> dict:
    """Scorer-based evaluation on users' files in any layout the data readers know (``data_format``
    forces one; see :mod:`synesthesia.evaluation.paired_data` for which samples are evaluated and
    which train the scorers)."""

    t0 = time.perf_counter()
    if (data_format or detect_format(Path(data))) == "prepared":
        evaluated, scorer_data, selection, fingerprint = prepared_samples(data, pipe.modalities, n)
        keys = f"train{len(scorer_data.data)}"
    else:
        evaluated, scorer_data, selection, fingerprint, keys = file_samples(pipe, data, n, data_format, log)
    log(f"evaluating {len(evaluated.data)} samples of {data} ({selection.why}; {n} asked; read in "
        f"{time.perf_counter() - t0:.0f} s); the scorers train on {len(scorer_data.data)} samples"
        + (" including the evaluated ones (too few others)" if selection.scorer_includes_evaluated else ""))
    suite = PairedEvaluation(pipe, evaluated, scorer_data, f"{fingerprint}-{keys}", selection, seed,
                             temperature, log, cache_dir=scorer_dir, budget=budget or ScorerBudget(seed=seed),
                             **generate_options)
    metrics = suite.run()
    refs = [len(r) for r in evaluated.references if r]
    metrics.update({
        "data": str(data), "data_fingerprint": fingerprint, "n": len(evaluated.data), "n_requested": n,
        "samples_chosen": selection.why, "scorer_samples": len(scorer_data.data),
        "scorer_includes_evaluated": selection.scorer_includes_evaluated,
        "references_per_sample": {"mean": float(np.mean(refs)) if refs else 0.0,
                                  "min": min(refs, default=0), "max": max(refs, default=0)},
        "rejected": {"evaluated": evaluated.rejected, "scorer": scorer_data.rejected},
        "media_policy": media_policy(pipe.modalities), "seconds": round(time.perf_counter() - t0, 1)})
    return metrics

def file_samples(pipe, data: str | Path, n: int, data_format: str | None = None,
                 log: Callable[[str], None] = print, training: bool = False) -> tuple:
    """(evaluated, scorer samples, selection, data fingerprint, scorer key) of users' files:
    :func:`evaluate_files` scores the evaluated samples with scorers cached under the key.
    ``training``: evaluate the first ``n`` of the scorers' own samples instead (the same
    scorers), to set a figure on unseen samples beside one on seen ones."""
    samples, fingerprint = read_samples(data, data_format, _reader_options(pipe))
    selection = choose_samples(samples, n, trained_on_this=_trained_on(pipe, data))
    chosen = selection.scorer[:n] if training else selection.evaluated
    log(f"decoding {len(chosen) + len(selection.scorer)} samples of {data}")
    evaluated = encode_samples(chosen, pipe.modalities, log=log, what="evaluated samples")
    scorer_data = encode_samples(selection.scorer, pipe.modalities, log=log, what="scorer samples")
    keys = hashlib.sha256("\n".join(s.key for s in selection.scorer).encode()).hexdigest()[:8]
    return evaluated, scorer_data, selection, fingerprint, keys


def _trained_on(pipe, data: str | Path) -> bool:
    """Whether ``data`` is the dataset the run trained on."""
    config = getattr(getattr(pipe, "config", None), "data", None)
    trained = [getattr(config, k, None) for k in ("path", "manifest")]
    here = Path(data).resolve()
    return any(t and (Path(t).resolve() == here or Path(t).resolve() == here / "manifest.jsonl") for t in trained)

def _reader_options(pipe):
    """How the run read its data (a caption column, paths outside the folder), when it says."""

    config = getattr(getattr(pipe, "config", None), "data", None)
    return reader_options(config) if config is not None else None

def media_policy(modalities) -> dict:
    """How each modality adapts input (recorded with the metrics)."""
    keys = {"image": ("size", "fit", "background"), "video": ("size", "frames", "fit", "background"),
            "audio": ("sample_rate", "seconds", "cut"), "text": ("tokenizer", "max_len", "vocab_size")}
    return {m: {k: mod.config().get(k) for k in keys.get(m, ())} for m, mod in modalities.items()}

def record(run: Path, metrics: dict) -> None:
    """Keep a summary in the run's metrics.json (composed pipelines route by it)."""

    key = coherence_key(metrics)
    write_metrics(Path(run), {"evaluation": {
        "coherence": {k: v[key] for k, v in metrics["coherence"].items()}, "score": key,
        "data_fingerprint": metrics["data_fingerprint"], "n": metrics["n"],
        "generate_options": metrics.get("generate_options", {})}})

def coherence_key(metrics: dict) -> str:
    """``strict`` (the world's oracles) or ``r_precision`` (users' data, scorers)."""
    rows = list((metrics.get("coherence") or {}).values())
    return "strict" if rows and "strict" in rows[0] else "r_precision"

def world_grids(suite) -> dict[str, tuple]:
    """Report grids: (visual inputs, outputs, labels) per direction shown."""
    data: EvalData = suite.data
    grids = {}
    for name in GRID_DIRECTIONS:
        if name not in suite.samples:
            continue
        given, target = name.split("->")
        outputs = suite.samples[name]
        inputs = {m: data.raw[m] for m in given.split("+") if m in ("image", "video")}
        if target == "text":
            labels = list(outputs)
        elif given == "text":
            labels = list(data.raw["text"])
        elif given == "audio":
            labels = ["sound of " + " ".join(_values(data, i, ("size", "colour", "shape", "position")))
                      for i in range(data.n)]
        else:
            labels = [""] * data.n
        visual_out = target in ("image", "video")
        if visual_out or inputs:
            grids[name] = (inputs, outputs if visual_out else None, labels)
    return grids

def _values(data: EvalData, i: int, attributes) -> list[str]:

    return [ATTRIBUTES[a][int(data.codes[a][i])] for a in attributes if a in data.world.varied]

__all__ = ["evaluate", "evaluate_files", "direction_name", "run_fingerprint", "ScorerBudget"]
