"""Nothing a user has is deleted: every command that takes --out, pointed at a trained run, at a
folder holding someone's file, and at a dataset, refuses or writes beside what is there."""

import os
import subprocess
import sys

import pytest

from synesthesia.cli import main


def _snapshot(folder):
    return {p.relative_to(folder): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def places(tmp_path_factory, tiny_run):
    """A copy of a trained run, a folder with a user's file, and a world cache with its export."""
    import shutil

    from synesthesia.world import WorldConfig
    from synesthesia.world.cache import write_cache
    from synesthesia.world.export import export_files
    from synesthesia.world.world import ShapesWorld

    root = tmp_path_factory.mktemp("places")
    run = root / "run"
    shutil.copytree(tiny_run, run)
    mine = root / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("three years of work")
    cache = write_cache(ShapesWorld(WorldConfig(level=1, image_size=16)), root / "cache", 20)
    files = export_files(cache, root / "files", n=4).parent
    return {"run": run, "mine": mine, "cache": cache, "files": files}


def _commands(run, out, cache):
    return {
        "train": ["train", str(run / "config.yaml"), "--set", "train.max_steps=1", "--no-progress", "--no-gallery",
                  "--out", out],
        "quickstart": ["quickstart", "--set", "train.max_steps=1", "--set", "data.n_train=64", "--no-progress",
                       "--out", out],
        "world make": ["world", "make", "--n", "10", "--out", out],
        "world make --overwrite": ["world", "make", "--n", "10", "--out", out, "--overwrite"],
        "world export": ["world", "export", str(cache), "--n", "2", "--out", out],
        "world show": ["world", "show", "--levels", "1", "--n", "1", "--out", out],
        "evaluate": ["evaluate", str(run), "--n", "8", "--out", out],
        "evaluate --overwrite": ["evaluate", str(run), "--n", "8", "--out", out, "--overwrite"],
        "generate": ["generate", str(run), "--to", "image", "--text", "a red star", "--n", "1", "--out", out],
        "cycle": ["cycle", str(run), "--text", "a red star", "--rounds", "1", "--out", out],
    }


@pytest.mark.parametrize("target", ["run", "cache", "files"])
def test_no_command_writes_into_a_run_or_a_dataset(places, target, capsys):
    folder = places[target]
    before = _snapshot(folder)
    for name, argv in _commands(places["run"], str(folder), places["cache"]).items():
        assert main(argv) == 2, name
        err = capsys.readouterr().err
        assert "synesthesia: error:" in err and any(w in err for w in ("never replaces", "already exists", "already holds a run")), (name, err)
        assert _snapshot(folder) == before, name


def test_a_users_folder_is_refused_or_written_beside(places, capsys):
    mine = places["mine"]
    commands = _commands(places["run"], str(mine), places["cache"])
    for name in ("train", "quickstart", "world make", "world export", "world show"):
        assert main(commands[name]) == 2, name
        assert "--overwrite" in capsys.readouterr().err or name in ("train", "quickstart"), name
        assert (mine / "thesis.txt").read_text() == "three years of work"
    for name in ("generate", "cycle"):
        assert main(commands[name]) == 0, name
    assert (mine / "thesis.txt").read_text() == "three years of work"
    assert {p.name for p in mine.iterdir()} == {"thesis.txt", "image-00.png", "cycle.png", "cycle.html", "cycle.json"}


def test_generate_streams_batches_with_bounded_memory(places, tmp_path):
    """generate --n N draws and writes batch by batch: peak memory at n=2,000 stays within 1.5x of
    that at n=200."""
    code = ("import resource, sys\n"
            "from synesthesia.cli import main\n"
            "assert main(sys.argv[1:]) == 0\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    peaks = {}
    for n in (200, 2000):
        out = tmp_path / f"n{n}"
        argv = ["generate", str(places["run"]), "--to", "video", "--text", "a red star", "--n", str(n),
                "--batch-size", "100", "--out", str(out)]
        proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=900)
        assert proc.returncode == 0, proc.stderr[-2000:]
        peaks[n] = int(proc.stdout.strip().splitlines()[-1])
        assert len(list(out.glob("video-*.gif"))) == n
    assert peaks[2000] < 1.5 * peaks[200], peaks


def test_two_generates_into_one_folder_keep_both_outputs(places, tmp_path):
    out = tmp_path / "shared"
    argv = [sys.executable, "-m", "synesthesia.cli", "generate", str(places["run"]), "--to", "image", "--text",
            "a red star", "--n", "6", "--batch-size", "2", "--out", str(out)]
    procs = [subprocess.Popen(argv + ["--seed", str(k)], stdout=subprocess.DEVNULL) for k in range(2)]
    assert all(p.wait(timeout=600) == 0 for p in procs)
    assert sorted(p.name for p in out.iterdir()) == [f"image-{k:02d}.png" for k in range(12)]
