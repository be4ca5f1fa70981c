"""Exact resume: a run stopped at a random step (SIGTERM in the process, SIGKILL of a subprocess)
and resumed with --resume logs every step once, with the same losses and the same final weights
as a run that never stopped; the joint VAE, the GAN and the captioner at tiny sizes."""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from safetensors.torch import load_file
from tests.conftest import TINY_MODALITIES, TINY_WORLD

from synesthesia.checkpoint import Interrupted
from synesthesia.cli import main
from synesthesia.runs import RunConfig
from synesthesia.training.run import train

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = {   # family: (model options, modalities, train options, optimiser steps per batch)
    "joint_vae": ({"fusion": "mopoe", "latent_dim": 8}, ["image", "audio", "text"], {}, 1),
    "gan": ({"g_channels": 8, "d_channels": 8, "noise_dim": 8, "cond_dim": 16, "w_dim": 16,
             "diversity_every": 2}, ["image", "text"], {"gradient_clip": None}, 2),
    "transformer": ({"kind": "captioner", "width": 32, "heads": 2, "encoder_layers": 1, "decoder_layers": 1,
                     "stem_channels": 8, "patch": 4}, ["image", "text"], {}, 1),
}
BATCHES = 7          # batches per run: 4 per epoch, so every run crosses an epoch and a validation


def config(family: str, **train_options) -> RunConfig:
    model, names, options, per_batch = FAMILIES[family]
    return RunConfig.from_dict({
        "family": family, "model": model,
        "modalities": {m: dict(TINY_MODALITIES[m]) for m in names},
        "data": {"world": dict(TINY_WORLD), "n_train": 64, "n_val": 16, "modalities": names,
                 "missing_p": 0.3 if family == "joint_vae" else 0.0},
        "train": {"batch_size": 16, "max_steps": BATCHES * per_batch, "max_epochs": 50, "log_every": 1,
                  "checkpoint_every": per_batch, "samples_every_epoch": False, **options, **train_options},
    })


def logged(run: Path) -> dict[tuple[int, str], float]:
    """{(step, column): value} of the run's joined metrics.csv; a step logged twice fails."""
    values, train_rows = {}, []
    with open(run / "logs" / "csv" / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            step = int(row["step"])
            if any(row.get(k) for k in ("train_loss", "g_loss")):
                train_rows.append(step)
            for k, v in row.items():
                if v and k not in ("step", "epoch") and "samples_per_s" not in k:
                    assert (step, k) not in values, f"step {step} logged {k} twice"
                    values[(step, k)] = float(v)
    assert sorted(train_rows) == sorted(set(train_rows)), "a step was logged twice"
    return values


def assert_same_run(run: Path, reference: Path) -> None:
    ours, theirs = logged(run), logged(reference)
    assert ours.keys() == theirs.keys()
    worst = max(abs(ours[k] - theirs[k]) / max(1.0, abs(theirs[k])) for k in theirs)
    assert worst <= 1e-6, worst
    a, b = load_file(str(run / "model.safetensors")), load_file(str(reference / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-6, rtol=0), k


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    runs = {}

    def get(family: str) -> Path:
        if family not in runs:
            runs[family] = train(config(family), tmp_path_factory.mktemp(family) / "run", progress=False)
        return runs[family]

    return get


class SignalAt(L.Callback):
    """Sends ``sig`` to this process once the run has taken ``step`` optimiser steps."""

    def __init__(self, step: int, sig: int) -> None:
        self.step, self.sig, self.sent = step, sig, False

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step >= self.step and not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.sig)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_at_a_random_step_then_resume_equals_the_uninterrupted_run(uninterrupted, tmp_path, sig):
    family, per_batch, name = "joint_vae", 1, signal.Signals(sig).name
    step = random.Random(22).randint(1, BATCHES - 1) * per_batch
    run, before = tmp_path / "run", signal.getsignal(sig)
    with pytest.raises(Interrupted, match=f"stopped by {name}") as stop:
        train(config(family), run, progress=False, callbacks=[SignalAt(step, sig)])
    assert stop.value.step == step + per_batch                 # the step under way when it came is finished
    assert json.loads((run / "metrics.json").read_text())["training"]["stopped_by"] == name
    assert signal.getsignal(sig) == before                           # the handlers are given back
    train(config(family), run, resume=True, progress=False)
    assert_same_run(run, uninterrupted(family))


KILL_DRIVER = """
import os, signal, sys, warnings
import lightning as L
from synesthesia.runs import RunConfig
from synesthesia.training.run import train

class Kill(L.Callback):
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step >= int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)

warnings.simplefilter("ignore")
train(RunConfig.from_yaml(sys.argv[1]), sys.argv[2], progress=False, callbacks=[Kill()])
"""


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_sigkill_at_a_random_step_then_resume_equals_the_uninterrupted_run(family, uninterrupted, tmp_path):
    per_batch = FAMILIES[family][3]
    step = random.Random(family).randint(2, BATCHES - 1) * per_batch
    cfg, run = config(family).to_yaml(tmp_path / "config.yaml"), tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-c", KILL_DRIVER, str(cfg), str(run), str(step)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not (run / "model.safetensors").exists()
    train(config(family), run, resume=True, progress=False)
    assert_same_run(run, uninterrupted(family))


@pytest.mark.slow
def test_a_run_killed_before_its_first_checkpoint_starts_again_on_resume(uninterrupted, tmp_path):
    cfg, run = config("joint_vae").to_yaml(tmp_path / "config.yaml"), tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-c", KILL_DRIVER, str(cfg), str(run), "1"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL and not list((run / "checkpoints").glob("*.ckpt"))
    train(config("joint_vae"), run, resume=True, progress=False)
    assert_same_run(run, uninterrupted("joint_vae"))


def _cli(*args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-m", "synesthesia.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _wait_for_checkpoint(run: Path, proc: subprocess.Popen, step: int, timeout: float = 240) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout and proc.poll() is None:
        if any(int(p.stem.rsplit("=", 1)[1]) >= step for p in (run / "checkpoints").glob("step-step=*.ckpt")):
            return
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint at step {step}: {proc.communicate()[1][-2000:]}")


@pytest.mark.slow
def test_sigterm_to_the_command_saves_exits_0_and_says_how_to_resume(uninterrupted, tmp_path):
    cfg, run = config("joint_vae").to_yaml(tmp_path / "config.yaml"), tmp_path / "run"
    proc = _cli("train", str(cfg), "--out", str(run), "--no-progress", "--no-gallery")
    _wait_for_checkpoint(run, proc, 2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "SIGTERM" in err and f"--out {run} --resume" in err and "Traceback" not in err
    assert main(["train", str(run / "config.yaml"), "--out", str(run), "--resume", "--no-progress",
                 "--no-gallery"]) == 0
    assert_same_run(run, uninterrupted("joint_vae"))


@pytest.mark.slow
def test_two_process_ddp_resumes_exactly_after_sigterm(tmp_path):
    cfg = config("joint_vae", devices=2, strategy="ddp").to_yaml(tmp_path / "config.yaml")
    full, run = tmp_path / "full", tmp_path / "run"
    proc = _cli("train", str(cfg), "--out", str(full), "--no-progress", "--no-gallery")
    assert proc.wait(timeout=400) == 0, proc.communicate()[1][-2000:]
    proc = _cli("train", str(cfg), "--out", str(run), "--no-progress", "--no-gallery")
    _wait_for_checkpoint(run, proc, 2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "--resume" in err, err[-2000:]
    stopped_at = json.loads((run / "metrics.json").read_text())["training"]["global_step"]
    assert 2 <= stopped_at < BATCHES
    proc = _cli("train", str(run / "config.yaml"), "--out", str(run), "--resume", "--no-progress", "--no-gallery")
    assert proc.wait(timeout=400) == 0, proc.communicate()[1][-2000:]
    metrics = json.loads((run / "metrics.json").read_text())["training"]
    assert metrics["world_size"] == 2 and "stopped_by" not in metrics
    assert_same_run(run, full)
