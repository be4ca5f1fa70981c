"""Evaluation on users' own files: contrastive scorers instead of oracles."""

import numpy as np
import pytest

from synesthesia.evaluation.evaluate import evaluate
from synesthesia.pipeline import Pipeline
from synesthesia.world import WorldConfig
from synesthesia.world.cache import write_cache
from synesthesia.world.export import export_files
from synesthesia.world.world import ShapesWorld

from test_suite import LookupModel


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("files")
    world = ShapesWorld(WorldConfig(level=3, image_size=16, modalities=("image", "text")))
    write_cache(world, root / "cache", 1600, splits={"train": 1.0})
    return export_files(root / "cache", root / "files", n=1600)


@pytest.fixture(scope="module")
def pipe_for(manifest):
    from synesthesia.data.sources import ManifestSource
    from synesthesia.modalities import build_modality
    from synesthesia.modalities.text import TextModality

    source = ManifestSource.from_path(manifest)
    mods = {"image": build_modality("image", size=16),
            "text": TextModality.from_captions([r["caption"] for r in source.rows])}
    val = source.dataset("val", 160, mods)
    bank = val[list(range(len(val)))].data

    def make(mode):
        return Pipeline.from_model(LookupModel(bank, mode), mods)
    return make


def test_scorer_based_coherence_separates_a_perfect_model_from_shuffled_pairs(manifest, pipe_for, tmp_path):
    kw = dict(data=manifest, n=160, scorer_dir=tmp_path, scorer_steps=400, log=lambda s: None)
    perfect = evaluate(pipe_for("perfect"), out=tmp_path / "report", **kw)
    shuffled = evaluate(pipe_for("shuffled"), **kw)
    p, s = perfect["coherence"]["text->image"], shuffled["coherence"]["text->image"]
    assert p["r_precision"] > 0.25 and s["r_precision"] < 0.06        # chance: 1 in 100
    assert p["similarity"] > s["similarity"] + 0.3
    # the real pairs are the ceiling a perfect model reaches
    assert p["r_precision"] == pytest.approx(perfect["real_pairs"]["text<->image"]["r_precision"], abs=0.02)
    assert "image" in perfect["fid"] and perfect["fid"]["image"] < shuffled["fid"]["image"] + 1e-6
    assert (tmp_path / "report" / "report.html").is_file()
    assert len(list(tmp_path.glob("*/scorer.safetensors"))) == 1      # one cached scorer, reused
