"""NaN/Inf and divergence stop training with the step and the loss parts named; the last good
checkpoint stays loadable and resumable."""

import json

import pytest
import torch
from tests.conftest import tiny_run_config

from synesthesia.checkpoint import load_nested
from synesthesia.cli import main
from synesthesia.config import ConfigError
from synesthesia.training.module import NonFiniteLossError
from synesthesia.training.run import train


def _finite_checkpoint(run):
    state = load_nested(run / "checkpoints" / "last.ckpt")
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())
    return state


def test_nan_names_the_step_and_the_parts_and_keeps_the_last_good_checkpoint(tmp_path):
    run = tmp_path / "nan"
    with pytest.raises(NonFiniteLossError, match=r"at step \d+ \(non-finite parts: .*rec/") as err:
        train(tiny_run_config(lr=1e20, max_steps=20, gradient_clip=None, checkpoint_every=1,
                              samples_every_epoch=False), run, progress=False)
    assert "--resume" in str(err.value)
    step = int(str(err.value).split("at step ")[1].split()[0])
    assert _finite_checkpoint(run)["global_step"] <= step


def test_max_loss_stops_a_diverging_run_with_a_clear_error(tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny_run_config(max_steps=2, samples_every_epoch=False), run, progress=False)
    before = (run / "checkpoints" / "last.ckpt").read_bytes()
    status = main(["train", str(run / "config.yaml"), "--out", str(run), "--resume", "--no-progress",
                   "--no-gallery", "--set", "train.max_loss=1.0", "--set", "train.max_steps=6"])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("synesthesia: error: the train loss reached")
    assert "above train.max_loss 1" in err and "at step 2" in err and "largest parts:" in err
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == before       # the good one is kept
    assert _finite_checkpoint(run)["global_step"] == 2
    train(tiny_run_config(max_steps=3, samples_every_epoch=False), run, resume=True, progress=False)
    assert json.loads((run / "metrics.json").read_text())["training"]["global_step"] == 3


@pytest.mark.parametrize("value", ["nan", "inf", "true"])
def test_max_loss_must_be_a_finite_number(value):
    with pytest.raises(ConfigError, match="max_loss"):
        tiny_run_config(max_loss=value)
