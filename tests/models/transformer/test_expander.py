"""The caption expander: training pairs, learning a completion, calibrated sampling, the run
folder, the pipeline hook and the command."""

import json
import shutil
from collections import Counter

import pytest
import torch
from tests.conftest import TINY_WORLD

from synesthesia.data.pairs import file_pairs, world_pairs
from synesthesia.data.sources import DataError
from synesthesia.models.transformer.expander import CaptionExpander, ExpanderConfig, ExpanderError
from synesthesia.runs import RunError, load_expander, save_expander
from synesthesia.runs.folder import EXPANDER as WEIGHTS
from synesthesia.runs.folder import EXPANDER_META as META
from synesthesia.training.expander import train_expander
from synesthesia.world.parser import parse_captions

SMALL = ExpanderConfig(width=32, heads=2, encoder_layers=1, decoder_layers=1)


def test_world_pairs_name_the_same_sample(tiny_world):
    partial, complete = world_pairs(dict(TINY_WORLD), 400)
    assert len(partial) == len(complete) == 400
    named, full = parse_captions(partial), parse_captions(complete)
    shorter = 0
    for a in tiny_world.config.varied:
        assert (full[a] != -1).all()                                         # complete captions name everything
        is_named = named[a] != -1
        assert (named[a][is_named] == full[a][is_named]).all()               # and agree with the partial one
        shorter += int((~is_named).sum())
    assert shorter > 100                                                     # omissions happen
    assert partial[:100] == complete[:100]                                   # the first share is left whole


def test_learns_a_completion_and_keeps_its_spread(tiny_modalities):
    text = tiny_modalities["text"]
    # "a red circle" is completed as big or small half the time each; the others have one completion
    partial = ["a red circle"] * 40 + ["a blue square"] * 20 + ["a green star"] * 20
    complete = (["a big red circle", "a small red circle"] * 20 + ["a big blue square on a plain background"] * 20
                + ["a small green star at the top left"] * 20)
    model, summary = train_expander(text, partial, complete, steps=600, batch_size=32,
                                    lr=3e-3, config=SMALL)
    assert summary["steps"] == 600 and summary["val_loss"] < 0.3
    ids = text.encode(["a blue square", "a green star"])
    assert text.decode(model.expand(ids, temperature=0.0)) == ["a big blue square on a plain background",
                                                              "a small green star at the top left"]
    g = torch.Generator().manual_seed(0)
    drawn = Counter(text.decode(model.expand(text.encode(["a red circle"] * 200), g)))
    assert drawn["a big red circle"] + drawn["a small red circle"] >= 190, drawn
    assert 0.3 < drawn["a big red circle"] / 200 < 0.7, drawn


def test_save_load_identity_and_errors(tiny_modalities, tmp_path):
    text = tiny_modalities["text"]
    model = CaptionExpander(text, SMALL).eval()
    save_expander(tmp_path, model, {"trained": {"steps": 0}})
    assert (tmp_path / WEIGHTS).is_file() and json.loads((tmp_path / META).read_text())["config"]["width"] == 32
    again = load_expander(tmp_path, {"text": text})
    ids = text.encode(["a red circle", "a small star"])
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(model.expand(ids, g1), again.expand(ids, g2))
    with pytest.raises(ExpanderError, match="token ids"):
        model.expand(ids[:, :5])
    (tmp_path / META).unlink()
    with pytest.raises(RunError, match="no expander.json"):
        load_expander(tmp_path, {"text": text})
    with pytest.raises(ExpanderError, match="not in this model's vocabulary"):
        train_expander(text, ["a zebra"] * 4, ["a big zebra"] * 4, steps=1)


def test_pairs_file_errors(tmp_path):
    with pytest.raises(DataError, match="no pairs file"):
        file_pairs(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"partial": "a red circle", "caption": "a big red circle"}\n{"partial": "a star"}\n')
    with pytest.raises(DataError, match="bad.jsonl:2"):
        file_pairs(bad)
    good = tmp_path / "good.jsonl"
    good.write_text('{"partial": "a red circle", "caption": "a big red circle"}\n\n'
                    '{"partial": "a star", "caption": "a small star"}\n')
    assert file_pairs(good) == (["a red circle", "a star"], ["a big red circle", "a small star"])


@pytest.fixture()
def expanded_run(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    return run


def test_pipeline_expands_text_conditions(expanded_run, monkeypatch):
    import synesthesia
    from synesthesia.pipeline import PipelineError

    pipe = synesthesia.load(expanded_run)
    assert pipe.expander is None
    with pytest.raises(PipelineError, match="no caption expander"):
        pipe.generate("image", text="a red circle", expand=True)
    save_expander(expanded_run, CaptionExpander(pipe.modalities["text"], SMALL), {})
    pipe = synesthesia.load(expanded_run)
    assert pipe.expander is not None
    fixed = pipe.modalities["text"].encode(["a big blue square"])
    monkeypatch.setattr(pipe.expander, "expand", lambda ids, generator=None: fixed.expand(len(ids), -1))
    seen = []
    real = pipe.model.generate
    monkeypatch.setattr(pipe.model, "generate", lambda given, targets, **kw: seen.append(given) or real(given, targets, **kw))
    pipe.generate("image", text="a red circle", n=2, seed=0)
    assert pipe.modalities["text"].decode(seen[-1]["text"]) == ["a big blue square"] * 2
    pipe.generate("image", text="a red circle", n=2, seed=0, expand=False)
    assert pipe.modalities["text"].decode(seen[-1]["text"]) == ["a red circle"] * 2
    # evaluation's batched generation goes through the same hook
    from synesthesia.evaluation.generation import generate_tensors

    generate_tensors(pipe, {"text": pipe.modalities["text"].encode(["a red circle"] * 3)}, "image")
    assert pipe.modalities["text"].decode(seen[-1]["text"]) == ["a big blue square"] * 3


def test_expander_command(expanded_run, tmp_path, capsys):
    from synesthesia.cli import main

    assert main(["expander", str(expanded_run), "--steps", "20", "--n-pairs", "400", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[0])
    assert summary["steps"] == 20 and 0 <= summary["val_complete_kept"] <= 1
    assert (expanded_run / WEIGHTS).is_file()
    meta = json.loads((expanded_run / META).read_text())
    assert meta["trained"]["steps"] == 20 and meta["pairs"] == "world"
    out = tmp_path / "out"
    assert main(["generate", str(expanded_run), "--to", "image", "--text", "a red circle", "--n", "2",
                 "--out", str(out), "--no-expand"]) == 0
    assert len(list(out.glob("image-*.png"))) == 2
    assert main(["expander", str(expanded_run), "--steps", "1", "--pairs", str(tmp_path / "none.jsonl")]) == 2
    assert "no pairs file" in capsys.readouterr().err
