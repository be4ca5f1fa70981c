"""``evaluate(RUN, data=PATH)`` on every image-caption layout the data readers know: a run trained
on the layout is evaluated on its held-out split, with every reference caption, a tiny scorer
budget, and tar members of WebDataset shards read through temporary files."""

import warnings

import pytest
from tests.conftest import TINY_MODALITIES
from tests.data import layouts

from synesthesia.evaluation.evaluate import evaluate
from synesthesia.evaluation.scorer_fit import ScorerBudget
from synesthesia.runs.config import RunConfig
from synesthesia.training.run import train

TINY = ScorerBudget(max_epochs=1, batch_size=4, min_heldout=4)


def config(path) -> RunConfig:
    return RunConfig.from_dict({
        "family": "joint_vae", "model": {"fusion": "mopoe", "latent_dim": 8},
        "modalities": {m: dict(TINY_MODALITIES[m]) for m in ("image", "text")},
        "data": {"path": str(path), "modalities": ["image", "text"], "n_train": 64, "n_val": 8},
        "train": {"batch_size": 4, "max_steps": 2, "checkpoint_every": 10, "log_every": 1,
                  "samples_every_epoch": False, "precision": "32-true"}})


@pytest.mark.slow
@pytest.mark.parametrize("make,kw,evaluated,references", [
    (layouts.coco, {"n": 24, "n_val": 6}, "'val' split", 2),
    (layouts.karpathy, {"n": 40}, "'test' split", 2),
    (layouts.hf_imagefolder, {"n": 24}, "'val' split", 1),
    (layouts.manifest, {"n": 40}, "last 10 %", 2),
    (layouts.webdataset, {"n": 24}, "'val' split", 1)])
def test_evaluate_reads_every_layout(tmp_path, make, kw, evaluated, references):
    root = make(tmp_path / "data", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = train(config(root), tmp_path / "run", progress=False)
    lines = []
    metrics = evaluate(run, data=root, n=50, scorer_dir=tmp_path / "scorers", scorer_budget=TINY, log=lines.append)
    assert evaluated in metrics["samples_chosen"] and 2 <= metrics["n"] < 50
    assert set(metrics["coherence"]) == {"text->image", "image->text"}
    assert metrics["references_per_sample"]["max"] == references
    assert metrics["captioning"]["image->text"]["references_per_sample"] == references
    assert not metrics["rejected"]["evaluated"] and metrics["media_policy"]["text"]["tokenizer"] == "bpe"


@pytest.mark.slow
def test_evaluate_reads_a_prepared_folder(tmp_path):
    from synesthesia.data.prepare import prepare
    from synesthesia.evaluation.generation import EvaluationError

    root = layouts.coco(tmp_path / "data", n=24, n_val=6)
    folder = prepare(root, tmp_path / "prepared", modalities={"image": {"size": 16}}, progress=False,
                     log=lambda s: None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = train(config(folder), tmp_path / "run", progress=False)
    metrics = evaluate(run, data=folder, n=50, scorer_dir=tmp_path / "scorers", scorer_budget=TINY,
                       log=lambda s: None)
    assert metrics["n"] == 6 and metrics["scorer_samples"] == 24 and "prepared folder" in metrics["samples_chosen"]
    assert metrics["references_per_sample"]["max"] == 2 and set(metrics["coherence"]) == {"text->image", "image->text"}
    other = prepare(root, tmp_path / "other", modalities={"image": {"size": 32}}, progress=False, log=lambda s: None)
    with pytest.raises(EvaluationError, match="size=32"):
        evaluate(run, data=other, n=50, scorer_dir=tmp_path / "scorers", scorer_budget=TINY, log=lambda s: None)
