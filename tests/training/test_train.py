import csv
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
import yaml
from safetensors.torch import load_file
from tests.conftest import tiny_run_config

from synesthesia.config import ConfigError
from synesthesia.errors import OutputError
from synesthesia.training.module import NonFiniteLossError
from synesthesia.training.run import train


def test_run_folder_holds_everything_and_never_a_pickle(tiny_run):
    for rel in ("config.yaml", "model.safetensors", "assets/tokenizer.json", "metrics.json",
                "logs/csv/metrics.csv", "checkpoints/last.ckpt", "samples/epoch-000.png"):
        assert (tiny_run / rel).is_file(), rel
    assert list((tiny_run / "logs" / "tb").glob("events.out.tfevents.*"))
    # checkpoints are safetensors files (a pickle would fail to parse here)
    assert "t.state_dict.model.steps" in " ".join(load_file(str(tiny_run / "checkpoints" / "last.ckpt")))
    metrics = json.loads((tiny_run / "metrics.json").read_text())["training"]
    assert metrics["global_step"] == 4 and metrics["world_size"] == 1
    saved = yaml.safe_load((tiny_run / "config.yaml").read_text())
    assert saved["modalities"]["text"]["max_len"] > 5           # resolved from the captions


def test_save_load_gives_identical_outputs(tiny_run):
    import synesthesia as syn
    from synesthesia.runs import load_model

    model, mods, _ = load_model(tiny_run)
    again, _, _ = load_model(tiny_run)
    text = mods["text"].encode(["a big red star", "there is a small blue circle"])
    outs = [m.generate({"text": text}, ["image", "audio", "video", "text"],
                       generator=torch.Generator().manual_seed(5)) for m in (model, again)]
    for k in outs[0]:
        assert torch.equal(outs[0][k], outs[1][k]), k
    pipe = syn.load(tiny_run)
    a = pipe.generate("image", text="a big red star", n=2, seed=1)
    b = syn.load(tiny_run).generate("image", text="a big red star", n=2, seed=1)
    assert [i.tobytes() for i in a] == [i.tobytes() for i in b]


def test_resume_continues_from_the_saved_step(tmp_path):
    out = tmp_path / "run"
    train(tiny_run_config(max_steps=2), out, progress=False)
    first = load_file(str(out / "checkpoints" / "last.ckpt"))
    with pytest.raises(OutputError, match="--resume"):
        train(tiny_run_config(max_steps=4), out, progress=False)
    train(tiny_run_config(max_steps=4), out, resume=True, progress=False)
    metrics = json.loads((out / "metrics.json").read_text())["training"]
    assert metrics["global_step"] == 4
    second = load_file(str(out / "checkpoints" / "last.ckpt"))
    assert int(second["t.state_dict.model.steps"]) == 4 and int(first["t.state_dict.model.steps"]) == 2
    with open(out / "logs" / "csv" / "metrics.csv", newline="") as f:
        steps = {int(row["step"]) for row in csv.DictReader(f) if row["step"]}
    assert {0, 1, 2, 3} <= steps                  # the first leg's rows are kept, then the second's
    assert not list((out / "logs" / "csv").glob("metrics.part-*"))


def test_a_run_stopped_between_checkpoints_resumes_from_its_last_step(tmp_path):
    out = tmp_path / "run"
    train(tiny_run_config(max_steps=3, checkpoint_every=2), out, progress=False)
    last = load_file(str(out / "checkpoints" / "last.ckpt"))
    assert int(last["t.state_dict.model.steps"]) == 3


def test_resume_twice_and_from_a_copy_keeps_writing_last_ckpt(tmp_path):
    out = tmp_path / "run"
    train(tiny_run_config(max_steps=2), out, progress=False)
    train(tiny_run_config(max_steps=3), out, resume=True, progress=False)
    train(tiny_run_config(max_steps=4), out, resume=True, progress=False)
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    train(tiny_run_config(max_steps=5), copy, resume=True, progress=False)
    for run, step in ((out, 4), (copy, 5)):
        names = sorted(p.name for p in (run / "checkpoints").iterdir())
        assert not [n for n in names if n.startswith("last-")], names
        last = load_file(str(run / "checkpoints" / "last.ckpt"))
        assert int(last["t.state_dict.model.steps"]) == step


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="train without --resume first"):
        train(tiny_run_config(), tmp_path / "none", resume=True, progress=False)


def test_a_failing_resume_changes_nothing(tmp_path):
    """--resume checks the config, the modalities, the model and the checkpoint before it touches
    any file of the run."""
    out = tmp_path / "run"
    train(tiny_run_config(max_steps=2), out, progress=False)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bigger = tiny_run_config(max_steps=4)
    bigger.model.latent_dim = 16                                  # another model than the checkpoint's
    with pytest.raises(ConfigError, match="does not hold the model this config builds"):
        train(bigger, out, resume=True, progress=False)
    (out / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    before[(out / "checkpoints" / "last.ckpt").relative_to(out)] = b"not a checkpoint"
    with pytest.raises(ConfigError, match="not a readable checkpoint"):
        train(tiny_run_config(max_steps=4), out, resume=True, progress=False)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_non_finite_loss_stops_with_a_clear_message(tmp_path):
    with pytest.raises(NonFiniteLossError, match="lower train.lr"):
        train(tiny_run_config(lr=1e20, max_steps=20, gradient_clip=None), tmp_path / "nan", progress=False)


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tmp_path):
    cfg = tiny_run_config(devices=2, strategy="ddp", max_steps=3)
    path = cfg.to_yaml(tmp_path / "cfg.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "synesthesia.cli", "train", str(path), "--out",
                           str(tmp_path / "ddp"), "--no-progress"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())["training"]
    assert metrics["world_size"] == 2 and metrics["global_step"] == 3
