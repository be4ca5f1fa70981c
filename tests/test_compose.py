"""Several runs behind one pipeline, and the image→text→image cycle."""

import json

import numpy as np
import pytest

import synesthesia as syn
from synesthesia.pipeline import Pipeline, PipelineError
from synesthesia.reports.cycle_page import write_cycle


@pytest.fixture(scope="module")
def second_run(tmp_path_factory, tiny_run):
    from tests.conftest import tiny_run_config

    from synesthesia.training.run import train

    cfg = tiny_run_config(max_steps=2)
    cfg.model.fusion = "poe"
    return train(cfg, tmp_path_factory.mktemp("runs2") / "poe", progress=False)


@pytest.fixture()
def oracle_cache(tmp_path_factory, monkeypatch, tiny_world):
    from synesthesia.world.judges.oracles import OracleTraining, get_oracle

    root = tmp_path_factory.getbasetemp() / "syn-cache"
    monkeypatch.setenv("SYNESTHESIA_CACHE", str(root))
    get_oracle(tiny_world.config, "image", training=OracleTraining(n_train=256, epochs=1, n_test=64))
    return root


def test_routing_picks_the_named_model(tiny_run, second_run):
    pipe = syn.load(tiny_run, second_run, routes={"text->image": second_run})
    assert isinstance(pipe, Pipeline) and len(pipe.runs) == 2
    assert pipe.route(["text"], "image").path == second_run
    # unrouted directions rank by recorded evaluation, then by the order given
    assert pipe.route(["image"], "text").path == tiny_run
    from synesthesia.runs import write_metrics

    write_metrics(second_run, {"evaluation": {"coherence": {"image->text": 0.9}}})
    write_metrics(tiny_run, {"evaluation": {"coherence": {"image->text": 0.5}}})
    assert syn.load(tiny_run, second_run).route(["image"], "text").path == second_run
    images = pipe.generate("image", text="a big red star", n=2, seed=0)
    assert len(images) == 2 and images[0].size == (16, 16)
    with pytest.raises(PipelineError, match="not among the loaded runs"):
        syn.load(tiny_run, routes={"text->image": "runs/elsewhere"})
    with pytest.raises(PipelineError, match="'given->target'"):
        syn.load(tiny_run, second_run, routes={"text to image": second_run})
    with pytest.raises(PipelineError, match="give at least one input"):
        pipe.generate("image")
    with pytest.raises(PipelineError, match="several runs"):
        _ = pipe.model


def test_every_option_passes_through_a_composed_pipeline(tiny_run, second_run, tmp_path, capsys):
    """Options are not inputs: a composed pipeline hands them to the routed run, which uses them
    (MCMC, priors, temperature, expand=False) or says it does not take them."""
    pipe = syn.load(tiny_run, second_run, routes={"text->image": second_run})
    for options in ({"sampler": "hmc", "steps": 3}, {"sampler": "mala", "steps": 2, "chains": 2},
                    {"proposals": 3}, {"sampler": "hmc", "steps": 2, "prior": "aggregate"},
                    {"temperature": 0.5}, {"expand": False}):
        out = pipe.generate("image", text="a big red star", n=2, seed=0, **options)
        assert len(out) == 2, options
    assert pipe.last_sampling is None
    pipe.generate("image", text="a star", sampler="hmc", steps=2)
    assert pipe.last_sampling["sampler"] == "hmc"
    with pytest.raises(PipelineError, match="top_k does not apply to the joint_vae run"):
        pipe.generate("image", text="a star", top_k=3)
    from synesthesia.cli import main

    out = tmp_path / "gen"
    assert main(["generate", str(tiny_run), str(second_run), "--route", f"text->image={second_run}", "--to", "image",
                 "--text", "a big red star", "--n", "2", "--sampler", "hmc", "--steps", "3", "--out", str(out)]) == 0
    assert "sampler: sampler hmc" in capsys.readouterr().out
    assert main(["generate", str(tiny_run), str(second_run), "--to", "image", "--text", "a star", "--no-expand",
                 "--temperature", "0.5", "--out", str(out)]) == 0
    assert len(list(out.glob("image-*.png"))) == 2 + 4


def test_cycle_from_text_and_from_image(tiny_run, second_run, tiny_world, oracle_cache):
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
    # two runs: captions made by one run's tokenizer are read by the other's
    both = syn.load(tiny_run, second_run, routes={"text->image": second_run, "image->text": tiny_run})
    chain = both.cycle(text="a big red star", rounds=2)
    assert len(chain.images[2]) == 1 and isinstance(chain.captions[2][0], str)


def test_cycle_files(tiny_run, tmp_path, oracle_cache, monkeypatch, capsys):
    from synesthesia.cli import main

    out = tmp_path / "cycle"
    (tmp_path / "cycle").mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["cycle", str(tiny_run), "--text", "a big red star", "--rounds", "2", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"cycle.png", "cycle.html", "cycle.json", "notes.txt"}
    assert (out / "notes.txt").read_text() == "mine"
    data = json.loads((out / "cycle.json").read_text())
    assert len(data["captions"]) == 3 and len(data["agreement"]) == 2
    assert "round 2" in capsys.readouterr().out
    # a second cycle into the same folder is refused unless --overwrite
    assert main(["cycle", str(tiny_run), "--text", "a star", "--rounds", "1", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["cycle", str(tiny_run), "--text", "a star", "--rounds", "1", "--out", str(out), "--overwrite"]) == 0
    assert len(json.loads((out / "cycle.json").read_text())["captions"]) == 2
    # a failure while writing leaves no temporary file and no half-written one
    result = syn.load(tiny_run).cycle(text="a star", rounds=1)

    def broken(*a, **k):
        raise OSError("disk full")

    import synesthesia.reports.cycle_page as page

    monkeypatch.setattr(page, "write_text_atomic", broken)
    with pytest.raises(OSError):
        write_cycle(result, tmp_path / "half")
    assert not (tmp_path / "half").exists() and not list(tmp_path.glob(".half*"))
    assert main(["cycle", str(tiny_run), "--out", str(tmp_path / "x")]) == 2
