"""Evaluation on users' own files: contrastive scorers instead of oracles, a budget in epochs with
early stopping, every reference caption, the samples chosen, and the command's summary."""

import json

import pytest
import torch
from test_suite import LookupModel

from synesthesia.cli.evaluate import summary
from synesthesia.evaluation.evaluate import evaluate, record
from synesthesia.evaluation.paired_data import (
    MIN_SCORER_PAIRS,
    Sample,
    choose_samples,
    encode_samples,
    read_samples,
)
from synesthesia.evaluation.scorer_fit import ScorerBudget
from synesthesia.pipeline import Pipeline
from synesthesia.world import WorldConfig
from synesthesia.world.cache import write_cache
from synesthesia.world.export import export_files
from synesthesia.world.world import ShapesWorld

N_FILES, N_EVAL = 900, 160
TINY_BUDGET = ScorerBudget(max_epochs=6, patience=2, batch_size=64)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """Exported world files whose rows carry three reference captions each."""
    root = tmp_path_factory.mktemp("files")
    world = ShapesWorld(WorldConfig(level=3, image_size=16, modalities=("image", "text")))
    write_cache(world, root / "cache", N_FILES, splits={"train": 1.0})
    path = export_files(root / "cache", root / "files", n=N_FILES)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for r in rows:
        r["captions"] = [r["caption"], f"{r['caption']} in a picture", "a shape on a background"]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture(scope="module")
def pipe_for(manifest):
    from synesthesia.modalities import build_modality
    from synesthesia.modalities.text import TextModality

    samples, _ = read_samples(manifest)
    mods = {"image": build_modality("image", size=16),
            "text": TextModality.from_captions([s.captions[0] for s in samples])}
    encoded = encode_samples(samples[:N_EVAL], mods)
    bank = encoded.data[list(range(N_EVAL))].data

    def make(mode):
        return Pipeline.from_model(LookupModel(bank, mode), mods)
    return make


@pytest.fixture(scope="module")
def evaluated(manifest, pipe_for, tmp_path_factory):
    """Metrics of a perfect and a shuffled model, the log, and the scorer cache."""
    root = tmp_path_factory.mktemp("scorers")
    lines = []
    kw = dict(data=manifest, n=N_EVAL, scorer_dir=root, scorer_budget=TINY_BUDGET, log=lines.append)
    perfect = evaluate(pipe_for("perfect"), out=root / "report", **kw)
    shuffled = evaluate(pipe_for("shuffled"), **kw)
    return perfect, shuffled, lines, root


def test_scorer_coherence_separates_a_perfect_model_from_shuffled_pairs(evaluated):
    perfect, shuffled, lines, tmp_path = evaluated
    p, s = perfect["coherence"]["text->image"], shuffled["coherence"]["text->image"]
    assert p["r_precision"] > 0.25 and s["r_precision"] < 0.06        # chance: 1 in 100
    assert p["similarity"] > s["similarity"] + 0.3
    # the real pairs are the ceiling a perfect model reaches
    assert p["r_precision"] == pytest.approx(perfect["real_pairs"]["text<->image"]["r_precision"], abs=0.02)
    assert perfect["fid"]["image"] < shuffled["fid"]["image"] + 1e-6
    assert set(perfect["scorer_fidelity"]["image"]) >= {"fid", "kid", "conditional_on", "samples"}
    assert (tmp_path / "report" / "report.html").is_file()
    assert len(list(tmp_path.glob("*/scorer.safetensors"))) == 1      # one scorer, cached and reused
    assert any("epoch 1/6" in line for line in lines)                  # progress is shown
    assert any("comes from the cache" in line for line in lines)
    training = perfect["scorers"]["image<->text"]["training"]
    assert training["train_pairs"] + training["heldout_pairs"] == N_FILES - N_EVAL
    assert training["epochs"] <= 6 and training["heldout_pairs"] >= 100


def test_every_reference_is_used_and_recorded(evaluated):
    metrics = evaluated[0]
    assert metrics["n"] == N_EVAL and metrics["n_requested"] == N_EVAL    # n honoured, not a 10 % cut
    assert metrics["references_per_sample"] == {"mean": 3.0, "min": 3, "max": 3}
    cap = metrics["captioning"]["image->text"]
    assert cap["references_per_sample"] == 3.0 and cap["bleu4"] > 0.9 and cap["cider_d"] > 1.0
    assert metrics["media_policy"]["image"] == {"size": 16, "fit": "crop", "background": [255, 255, 255]}
    assert metrics["media_policy"]["text"]["tokenizer"] == "word"
    text = summary({**metrics, "run": "in-memory"})                # the command's summary: no KeyError
    assert "R-precision" in text and "real pairs" in text and "CIDEr-D" in text


def test_record_of_paired_metrics(evaluated, tmp_path):
    metrics = evaluated[0]
    run = tmp_path / "run"
    run.mkdir()
    record(run, metrics)
    saved = json.loads((run / "metrics.json").read_text())["evaluation"]
    assert saved["score"] == "r_precision" and set(saved["coherence"]) == {"text->image", "image->text"}


def test_which_samples_are_evaluated_and_which_train_the_scorers():
    def samples(n, split=None):
        return [Sample(str(i), {}, ["a"], split) for i in range(n)]

    plain = choose_samples(samples(1000), 300)
    assert len(plain.evaluated) == 300 and len(plain.scorer) == 700 and not plain.scorer_includes_evaluated
    own = choose_samples(samples(1000), 300, trained_on_this=True)
    assert [s.key for s in own.evaluated] == [str(i) for i in range(900, 1000)]
    split = choose_samples(samples(600, "train") + samples(50, "test"), 300)
    assert len(split.evaluated) == 50 and {s.split for s in split.evaluated} == {"test"}
    small = choose_samples(samples(MIN_SCORER_PAIRS + 50), 100)
    assert small.scorer_includes_evaluated and len(small.scorer) == MIN_SCORER_PAIRS + 50


def test_unreadable_files_are_left_out_and_counted(manifest, tmp_path):
    from synesthesia.modalities import build_modality

    samples = read_samples(manifest)[0][:6]
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    samples[2].values["image"] = tmp_path / "broken.png"
    samples[4].values["image"] = tmp_path / "missing.png"
    lines = []
    encoded = encode_samples(samples, {"image": build_modality("image", size=16)}, log=lines.append)
    assert encoded.rejected == {"image": 2} and encoded.data.masks["image"].tolist() == [1, 1, 0, 1, 0, 1]
    assert encoded.rows(["image"]).tolist() == [0, 1, 3, 5] and "2 image file(s)" in lines[0]
    assert torch.isfinite(encoded.data[[0, 1]].data["image"]).all()
