"""A full disk (a file size limit, RLIMIT_FSIZE, in a subprocess) while a resumed run writes its
next checkpoint: one clear ``synesthesia: error:`` line, the previous checkpoint intact and
loadable, no temporary file left, and the run resumes once there is room."""

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import tiny_run_config

from synesthesia.checkpoint import load_nested
from synesthesia.errors import OutputError
from synesthesia.io import atomic_path
from synesthesia.training.run import train

ROOT = Path(__file__).resolve().parents[2]


def _limited(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_while_checkpointing_is_a_clear_error_and_loses_nothing(tmp_path):
    run = tmp_path / "run"
    train(tiny_run_config(max_steps=2, samples_every_epoch=False), run, progress=False)
    last = run / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-m", "synesthesia.cli", "train", str(run / "config.yaml"), "--out",
                           str(run), "--resume", "--no-progress", "--no-gallery", "--set", "train.max_steps=4"],
                          env=env, capture_output=True, text=True, timeout=300, preexec_fn=_limited(len(before) // 2))
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("synesthesia: error: could not write") and "full" in line and "--resume" in line
    assert last.read_bytes() == before and load_nested(last)["global_step"] == 2
    assert not [p for p in run.rglob("*.tmp*")], "a temporary file was left behind"
    train(tiny_run_config(max_steps=4, samples_every_epoch=False), run, resume=True, progress=False)
    assert load_nested(last)["global_step"] == 4


def test_atomic_writes_say_when_there_is_no_room(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")
    code = ("import sys; from synesthesia.io import write_bytes_atomic\n"
            "try:\n    write_bytes_atomic(sys.argv[1], b'x' * 100000)\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, preexec_fn=_limited(4096), timeout=60)
    assert proc.stdout.startswith("OutputError could not write") and "file size limit" in proc.stdout
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["file.bin"]
    with pytest.raises(OutputError):                       # the same in-process, on a real ENOSPC
        with atomic_path(tmp_path / "x.bin") as tmp:
            raise OSError(28, "No space left on device", str(tmp))
