"""``evaluate(run, data, n, out)``: the whole evaluation of a trained run, as a dict and a report.

On the shapes world (the run's own, or a world cache given as ``data``) every metric of
:mod:`synesthesia.evaluation.suite` is computed with the oracles; on users' own files (a JSONL
manifest) coherence is measured with contrastive scorers trained on the data's pairs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from synesthesia.evaluation.generation import EvalData, direction_name, load_eval_data
from synesthesia.evaluation.report import REPORT_FILES, write_report
from synesthesia.io import check_out_folder
from synesthesia.pipeline import Pipeline, load
from synesthesia.evaluation.suite import WorldEvaluation
from synesthesia.evaluation.paired import PairedEvaluation
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
             scorer_steps: int | None = None, overwrite: bool = False, **generate_options) -> dict:
    """Evaluate ``run`` (a run folder or a loaded :class:`~synesthesia.pipeline.Pipeline`);
    with ``out`` also write ``metrics.json`` and ``report.html`` there. ``scorer_dir`` and
    ``scorer_steps`` set where and how long the contrastive scorers for users' data train."""

    if out is not None:                                  # refuse a bad --out before minutes of work
        check_out_folder(out, REPORT_FILES, overwrite, create=False)
    pipe = run if isinstance(run, Pipeline) else load(run)
    eval_data = load_eval_data(pipe, data, n)
    if eval_data.codes is not None:

        suite = WorldEvaluation(pipe, eval_data, seed, temperature, oracle_dir, log, **generate_options)
        metrics = suite.run(cycle_rounds)
        grids = world_grids(suite)
    else:

        extra = {"scorer_steps": scorer_steps} if scorer_steps else {}
        suite = PairedEvaluation(pipe, eval_data, seed, temperature, log, cache_dir=scorer_dir,
                                 manifest=data, **extra, **generate_options)
        metrics = suite.run()
        grids = {}
    metrics.update({"run": str(pipe.run) if pipe.run else "in-memory",
                    "run_fingerprint": run_fingerprint(pipe.run), "data_fingerprint": eval_data.fingerprint,
                    "n": eval_data.n, "seed": seed, "temperature": temperature,
                    "generate_options": {k: v for k, v in generate_options.items()}})
    if out is not None:
        write_report(out, metrics, grids, overwrite=overwrite)
    if pipe.run is not None and not isinstance(run, Pipeline):
        record(pipe.run, metrics)
    return metrics

def record(run: Path, metrics: dict) -> None:
    """Keep a summary in the run's metrics.json (composed pipelines route by it)."""

    key = "strict" if metrics["coherence"] and "strict" in next(iter(metrics["coherence"].values())) else "r_precision"
    write_metrics(Path(run), {"evaluation": {
        "coherence": {k: v[key] for k, v in metrics["coherence"].items()}, "score": key,
        "data_fingerprint": metrics["data_fingerprint"], "n": metrics["n"],
        "generate_options": metrics.get("generate_options", {})}})

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

__all__ = ["evaluate", "direction_name", "run_fingerprint"]
