"""Writing without losing anything: atomic files and folders, protected folders, permissions that
follow the umask, stale temporaries of killed writers, unique output names across processes."""

import os
import stat
import subprocess
import sys

import pytest

from synesthesia.errors import OutputError
from synesthesia.io import (
    atomic_dir,
    atomic_path,
    check_out_folder,
    claim_numbered,
    protected_kind,
    remove_stale,
    write_into,
    write_text_atomic,
)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_permissions_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        f = write_text_atomic(tmp_path / "a.txt", "x")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "sub").mkdir()
            write_text_atomic(tmp / "sub" / "b.txt", "y")
        with atomic_path(tmp_path / "c.bin") as tmp:
            tmp.write_bytes(b"z")
    finally:
        os.umask(old)
    assert _mode(f) == 0o666 & ~umask and _mode(tmp_path / "c.bin") == 0o666 & ~umask
    assert _mode(tmp_path / "d") == 0o777 & ~umask and _mode(tmp_path / "d" / "sub") == 0o777 & ~umask
    assert _mode(tmp_path / "d" / "sub" / "b.txt") == 0o666 & ~umask


def test_protected_folders_are_never_replaced(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("family: joint_vae\n")
    (run / "model.safetensors").write_bytes(b"weights")
    data = tmp_path / "data"
    data.mkdir()
    (data / "manifest.jsonl").write_text("{}\n")
    assert protected_kind(run) == "a run" and protected_kind(data) == "a dataset"
    for folder in (run, data):
        for overwrite in (False, True):
            with pytest.raises(OutputError, match="never replaces"):
                with atomic_dir(folder, overwrite=overwrite):
                    pass
        with pytest.raises(OutputError, match="never replaces"):
            check_out_folder(folder, ["report.html"], overwrite=True)
    assert (run / "model.safetensors").read_bytes() == b"weights"
    other = tmp_path / "other"
    other.mkdir()
    (other / "thesis.txt").write_text("mine")
    with pytest.raises(OutputError, match="--overwrite"):
        with atomic_dir(other):
            pass
    assert (other / "thesis.txt").read_text() == "mine"


def test_write_into_leaves_other_files_alone(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.txt").write_text("mine")
    with write_into(out, ["report.html", "figures"]) as tmp:
        (tmp / "report.html").write_text("r1")
        (tmp / "figures").mkdir()
        (tmp / "figures" / "a.png").write_bytes(b"a")
    assert (out / "thesis.txt").read_text() == "mine" and (out / "report.html").read_text() == "r1"
    with pytest.raises(OutputError, match="already holds report.html"):
        with write_into(out, ["report.html"]):
            pass
    with pytest.raises(RuntimeError):
        with write_into(out, ["report.html", "figures"], overwrite=True) as tmp:
            (tmp / "report.html").write_text("r2")
            raise RuntimeError("disk full")
    assert (out / "report.html").read_text() == "r1" and not list(tmp_path.glob(".out.*"))
    with write_into(out, ["report.html", "figures"], overwrite=True) as tmp:
        (tmp / "report.html").write_text("r2")
        (tmp / "figures").mkdir()
    assert (out / "report.html").read_text() == "r2" and not list((out / "figures").iterdir())


def test_stale_temporaries_of_a_killed_writer_are_removed(tmp_path):
    """A process killed in the middle of an atomic write leaves its temporary; the next write to
    the same target removes it (the live process's own temporaries are kept)."""
    code = ("import os, sys\n"
            "from synesthesia.io import atomic_dir\n"
            "with atomic_dir(sys.argv[1]) as tmp:\n"
            "    (tmp / 'big.bin').write_bytes(b'x' * 100000)\n"
            "    os.kill(os.getpid(), 9)\n")
    target = tmp_path / "cache"
    proc = subprocess.run([sys.executable, "-c", code, str(target)])
    assert proc.returncode == -9
    stale = list(tmp_path.glob(".cache.*.tmp"))
    assert len(stale) == 1 and not target.exists()
    assert remove_stale(target) == stale and not stale[0].exists()
    subprocess.run([sys.executable, "-c", code, str(target)])
    with atomic_dir(target) as tmp:
        (tmp / "ok").write_text("ok")
    assert not list(tmp_path.glob(".cache.*")) and (target / "ok").read_text() == "ok"


def test_numbered_names_never_collide_across_processes(tmp_path):
    code = ("import sys\n"
            "from synesthesia.io import claim_numbered\n"
            "for _ in range(20):\n"
            "    claim_numbered(sys.argv[1], 'image', 'png').write_text(sys.argv[2])\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(k)]) for k in range(3)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    names = sorted(p.name for p in tmp_path.glob("image-*.png"))
    assert len(names) == 60 and names[0] == "image-00.png" and names[-1] == "image-59.png"
    owners = [p.read_text() for p in tmp_path.glob("image-*.png")]
    assert sorted(owners.count(str(k)) for k in range(3)) == [20, 20, 20]
    assert claim_numbered(tmp_path, "image", "png").name == "image-60.png"
