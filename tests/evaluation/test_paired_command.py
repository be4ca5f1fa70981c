"""``synesthesia evaluate RUN --data manifest.jsonl``: a trained four-modality run scored on exported
files, every direction it serves, with a tiny scorer budget; no KeyError on the way out."""

import json

from synesthesia.cli import main
from synesthesia.world.cache import write_cache
from synesthesia.world.export import export_files


def test_evaluate_command_on_users_files(tmp_path, tiny_run, tiny_world, capsys):
    write_cache(tiny_world, tmp_path / "cache", 300, splits={"test": 1.0})
    manifest = export_files(tmp_path / "cache", tmp_path / "files", n=300, split="test", video_format="gif")
    out = tmp_path / "eval"
    args = ["evaluate", str(tiny_run), "--data", str(manifest), "--n", "100", "--out", str(out),
            "--scorer-epochs", "1", "--scorer-cache", str(tmp_path / "scorers")]
    assert main(args) == 0
    printed = capsys.readouterr()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 100 and metrics["scorer_samples"] == 200
    assert len(metrics["coherence"]) == 28                          # every direction the run serves
    assert len(metrics["real_pairs"]) == 12 and len(metrics["scorers"]) == 6
    assert set(metrics["scorer_fidelity"]) == {"image", "audio", "video", "text"}
    assert set(metrics["captioning"]) == {"image->text"} and metrics["references_per_sample"]["mean"] == 1
    assert metrics["media_policy"]["audio"]["cut"] == "start"
    assert "R-precision" in printed.out and "epoch 1/1" in printed.err
    again = json.loads((tiny_run / "metrics.json").read_text())["evaluation"]
    assert again["score"] == "r_precision" and again["n"] == 100
    assert main(args) == 2                                          # the report is not replaced unasked
    assert "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0                        # cached scorers: no training
    assert "epoch 1/1" not in capsys.readouterr().err
