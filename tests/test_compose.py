"""Composition of several runs and the image→text→image cycle."""

import json

import numpy as np
import pytest

import synesthesia as syn
from synesthesia.compose import ComposedPipeline
from synesthesia.cycle import write_cycle
from synesthesia.pipeline import PipelineError


@pytest.fixture(scope="module")
def second_run(tmp_path_factory, tiny_run):
    from tests.conftest import tiny_run_config
    from synesthesia.config import RunConfig
    from synesthesia.training.run import train

    cfg = tiny_run_config(max_steps=2)
    cfg.model["fusion"] = "poe"
    return train(cfg, tmp_path_factory.mktemp("runs2") / "poe", progress=False)


@pytest.fixture()
def oracle_cache(tmp_path_factory, monkeypatch, tiny_world):
    from synesthesia.evaluation.oracles import OracleTraining, get_oracle

    root = tmp_path_factory.getbasetemp() / "syn-cache"
    monkeypatch.setenv("SYNESTHESIA_CACHE", str(root))
    get_oracle(tiny_world.config, "image", training=OracleTraining(n_train=256, epochs=1, n_test=64))
    return root


def test_routing_picks_the_named_model(tiny_run, second_run):
    pipe = syn.load(tiny_run, second_run, routes={"text->image": second_run})
    assert isinstance(pipe, ComposedPipeline)
    assert pipe.route(["text"], "image").run == second_run
    # unrouted directions rank by recorded evaluation, then by the order given
    assert pipe.route(["image"], "text").run == tiny_run
    from synesthesia.runs import write_metrics

    write_metrics(second_run, {"evaluation": {"coherence": {"image->text": 0.9}}})
    write_metrics(tiny_run, {"evaluation": {"coherence": {"image->text": 0.5}}})
    assert syn.load(tiny_run, second_run).route(["image"], "text").run == second_run
    images = pipe.generate("image", text="a big red star", n=2, seed=0)
    assert len(images) == 2 and images[0].size == (16, 16)
    with pytest.raises(PipelineError, match="not among the loaded runs"):
        syn.load(tiny_run, routes={"text->image": "runs/elsewhere"})
    with pytest.raises(PipelineError, match="'given->target'"):
        syn.load(tiny_run, second_run, routes={"text to image": second_run})
    with pytest.raises(PipelineError, match="give at least one input"):
        pipe.generate("image")


def test_cycle_from_text_and_from_image(tiny_run, tiny_world, oracle_cache):
    pipe = syn.load(tiny_run)
    result = pipe.cycle(text=["a big red star", "a small blue heart"], rounds=3, seed=0)
    assert len(result.images) == 4 and len(result.captions[3]) == 2 and result.images[0] == []
    assert [a["round"] for a in result.agreement] == [1, 2, 3]
    assert all(0 <= a["both"] <= min(a["caption"], a["image"]) for a in result.agreement)
    img = tiny_world.render("test", np.arange(1), ["image"])["image"][0]
    from PIL import Image

    again = pipe.cycle(image=Image.fromarray(img), rounds=2)
    assert len(again.captions) == 3 and isinstance(again.captions[1][0], str)
    with pytest.raises(Exception, match="not both or neither"):
        pipe.cycle(rounds=2)


def test_cycle_files_are_written_atomically(tiny_run, tmp_path, oracle_cache, monkeypatch, capsys):
    from synesthesia.cli import main

    out = tmp_path / "cycle"
    assert main(["cycle", str(tiny_run), "--text", "a big red star", "--rounds", "2", "-o", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"cycle.png", "cycle.html", "cycle.json"}
    data = json.loads((out / "cycle.json").read_text())
    assert len(data["captions"]) == 3 and len(data["agreement"]) == 2
    assert "round 2" in capsys.readouterr().out
    import synesthesia.io as io

    result = syn.load(tiny_run).cycle(text="a star", rounds=1)

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(io, "write_text_atomic", broken)
    import synesthesia.cycle as cyc

    with pytest.raises(OSError):
        write_cycle(result, tmp_path / "half")
    assert not (tmp_path / "half").exists() and not list(tmp_path.glob(".half*"))
    assert main(["cycle", str(tiny_run), "-o", str(tmp_path / "x")]) == 2
