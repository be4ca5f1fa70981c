"""No code from data: a payload planted in any file a run folder can hold (a pickle whose
unpickling would create a marker file, a YAML ``!!python/object/apply`` tag that would do the
same) never runs when the run is loaded, resumed, generated from or evaluated; a command that
reads the file says what is wrong in one line."""

import pickle
import shutil

import pytest

from synesthesia.cli import main

FILES = ("config.yaml", "model.safetensors", "checkpoints/last.ckpt", "assets/tokenizer.json",
         "expander.safetensors", "expander.json", "priors/aggregate.safetensors", "priors/aggregate.json",
         "metrics.json")


class _Plant:
    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))           # unpickling this creates the marker file


def payload(kind: str, marker) -> bytes:
    if kind == "pickle":
        return pickle.dumps(_Plant(marker))
    return f"!!python/object/apply:builtins.open [{str(marker)!r}, 'w']\n".encode()


def _plant(run, rel: str, data: bytes) -> None:
    path = run / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if rel.startswith(("expander.", "priors/")):        # the part's other file, intact
        other = path.with_suffix(".json" if path.suffix == ".safetensors" else ".safetensors")
        if not other.exists():
            other.write_bytes(b"{}" if other.suffix == ".json" else b"")


OPERATIONS = {
    "generate": lambda run, out: ["generate", str(run), "--to", "image", "--text", "a red circle", "--n", "1",
                                  "-o", str(out)],
    "generate with prior": lambda run, out: ["generate", str(run), "--to", "image", "--n", "1", "--prior",
                                             "aggregate", "-o", str(out)],
    "resume": lambda run, out: ["train", str(run / "config.yaml"), "--out", str(run), "--resume", "--no-progress",
                                "--no-gallery"],
    "evaluate": lambda run, out: ["evaluate", str(run), "--n", "8", "--cycle-rounds", "0", "--out", str(out)],
}
# what each operation reads before doing any work (evaluating a healthy run trains the world's
# oracles, which is not what this test is about)
READS = {
    "generate": ("config.yaml", "model.safetensors", "assets/tokenizer.json", "expander.safetensors", "expander.json"),
    "generate with prior": ("config.yaml", "model.safetensors", "assets/tokenizer.json", "expander.safetensors",
                            "expander.json", "priors/aggregate.safetensors", "priors/aggregate.json"),
    "resume": ("config.yaml", "checkpoints/last.ckpt", "assets/tokenizer.json"),     # it rewrites the weights
    "evaluate": ("config.yaml", "model.safetensors", "assets/tokenizer.json", "expander.safetensors",
                 "expander.json"),
}


@pytest.mark.parametrize("kind", ["pickle", "yaml"])
@pytest.mark.parametrize("rel", FILES)
def test_a_planted_payload_never_runs_and_reading_it_is_a_clear_error(tiny_run, tmp_path, capsys, rel, kind):
    run, marker = tmp_path / "run", tmp_path / "MARKER"
    shutil.copytree(tiny_run, run)
    _plant(run, rel, payload(kind, marker))
    for name, args in OPERATIONS.items():
        if rel not in READS[name] and not (name == "resume" and rel == "metrics.json"):
            continue
        status = main(args(run, tmp_path / f"out-{name.replace(' ', '-')}"))
        err = capsys.readouterr().err
        assert not marker.exists(), f"{name} ran the payload in {rel}"
        assert status == 2 and err.startswith("synesthesia: error: "), (name, status, err[-800:])
        assert "Traceback" not in err and len(err) < 1200


def test_the_library_refuses_pickles_where_weights_belong(tiny_run, tmp_path):
    import synesthesia as syn
    from synesthesia.checkpoint import CheckpointError, load_nested
    from synesthesia.runs.folder import RunError

    run, marker = tmp_path / "run", tmp_path / "MARKER"
    shutil.copytree(tiny_run, run)
    (run / "checkpoints" / "last.ckpt").write_bytes(payload("pickle", marker))
    with pytest.raises(CheckpointError, match="never loads pickles"):
        load_nested(run / "checkpoints" / "last.ckpt")
    (run / "model.safetensors").write_bytes(payload("pickle", marker))
    with pytest.raises(RunError, match="never loads pickles"):
        syn.load(run)
    assert not marker.exists()


def test_no_code_path_can_unpickle():
    """The package never calls a loader that could run code from data."""
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src" / "synesthesia"
    risky = re.compile(r"torch\.load\(|pickle\.loads?\(|yaml\.load\(|yaml\.unsafe_load|allow_pickle=True|"
                       r"Loader=yaml\.(Full|Unsafe)?Loader|marshal\.loads?\(|dill\.|joblib\.load")
    found = [f"{p.relative_to(src)}:{i}" for p in src.rglob("*.py")
             for i, line in enumerate(p.read_text().splitlines(), 1) if risky.search(line)]
    assert not found, found
