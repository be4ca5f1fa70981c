"""``data prepare``: shards, manifest, resumption after a kill, stale temporaries, bad files."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import layouts
import numpy as np
import pytest

from synesthesia.data.errors import TooManyRejected
from synesthesia.data.prepare import prepare, work_folder
from synesthesia.data.prepared import PreparedSource

SRC = str(Path(__file__).resolve().parents[2] / "src")


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def quiet(line):
    pass


def test_prepare_writes_shards_a_manifest_and_reads_back_what_the_source_holds(tmp_path):
    root = layouts.hf_audiofolder(tmp_path / "a", n=10)
    out = prepare(root, tmp_path / "out", modalities={"audio": {"seconds": 0.25, "frames": 16, "n_mels": 16,
                                                                  "n_fft": 256}, "text": {"tokenizer": "word"}},
                  shard_size=4, progress=False, log=quiet)
    manifest = json.loads((out / "prepared.json").read_text())
    # the word vocabulary comes from every training caption; test captions with a word it lacks
    # ("triangle") are dropped and recorded, their samples kept with sound alone
    assert manifest["counts"] == {"samples": 10, "kept": 10, "rejected": 0, "captions_dropped": 4}
    dropped = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert {d["key"] for d in dropped} == {"test/clip008.wav", "test/clip009.wav"}
    assert all(d["kind"] == "caption" and "triangle" in d["reason"] for d in dropped)
    assert [s["n"] for s in manifest["splits"]["train"]["shards"]] == [4, 3]
    assert manifest["source"]["format"] == "hf_folder" and len(manifest["source"]["fingerprint"]) == 32
    assert manifest["modalities"]["audio"]["sample_rate"] == 16000          # the preparation default
    audio = np.load(out / "train" / "00000" / "audio.npy")
    assert audio.dtype == np.float16 and audio.shape == (4, 16, 16)
    text = np.load(out / "train" / "00000" / "text.npy")
    assert text.dtype == np.int32 and text.shape[:2] == (4, 2)              # two captions per sample
    source = PreparedSource(out)
    mods = source.resolve_modalities(["audio", "text"], {})
    ds = source.dataset("train", None, mods)
    assert len(ds) == 7 and ds.references([0]) == [["a red square", "a red square sound"]]
    assert mods["text"].decode(ds.caption_ids([0])[0][0]) == ["a red square", "a red square sound"]
    assert not work_folder(out).exists()
    with pytest.raises(FileExistsError, match="already holds prepared data"):
        prepare(root, out, progress=False, log=quiet)


def _slow_source(tmp_path: Path, n: int = 160) -> Path:
    root = tmp_path / "hf"
    rows = []
    for i in range(n):
        layouts.write_image(root / "train" / f"{i:04d}.jpg", i, size=384)
        rows.append({"file_name": f"{i:04d}.jpg", "text": layouts.caption(i)})
    layouts.write_table(root / "train" / "metadata.jsonl", rows)
    return root


def test_a_killed_prepare_resumes_and_gives_the_same_shards_as_an_uninterrupted_run(tmp_path):
    root = _slow_source(tmp_path)
    args = ["--image-size", "16", "--shard-size", "8", "--no-progress"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "synesthesia.cli", "data", "prepare", str(root), "--out",
                             str(killed), *args], env={**os.environ, "PYTHONPATH": SRC},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = work_folder(killed)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(work.glob("train/0*"))) < 2 and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in work.glob("train/0*"))
    assert 2 <= len(done) < 20 and not killed.exists()             # stopped mid-way, nothing published
    kept = {name: (work / "train" / name / "image.npy").stat().st_mtime_ns for name in done}
    stale = work / "train" / ".00019.tmp-999999"                   # a half-written shard of a dead writer
    stale.mkdir()
    (stale / "image.npy").write_bytes(b"half")
    from synesthesia.cli import main

    assert main(["data", "prepare", str(root), "--out", str(killed), *args]) == 0
    assert not stale.exists() and not work.exists()
    for name, mtime in kept.items():                               # finished shards were kept, not redone
        assert (killed / "train" / name / "image.npy").stat().st_mtime_ns == mtime
    fresh = tmp_path / "fresh"
    assert main(["data", "prepare", str(root), "--out", str(fresh), *args]) == 0
    a, b = tree(killed), tree(fresh)
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a), [k for k in a if a[k] != b.get(k)]


def test_a_stale_prepare_of_other_settings_is_removed_and_a_foreign_folder_is_left_alone(tmp_path, capsys):
    root = layouts.hf_imagefolder(tmp_path / "hf", n=8)
    out = tmp_path / "out"
    work = work_folder(out)
    work.mkdir()
    (work / "state.json").write_text(json.dumps({"format": "synesthesia-prepared", "state": {"old": 1}}))
    (work / "train").mkdir()
    lines = []
    prepare(root, out, modalities={"image": {"size": 16}}, progress=False, log=lines.append)
    assert any("other data or settings" in line for line in lines) and (out / "prepared.json").is_file()
    other = tmp_path / "other"
    work_folder(other).mkdir()
    (work_folder(other) / "thesis.txt").write_text("mine")
    with pytest.raises(Exception, match="was not written by 'synesthesia data prepare'"):
        prepare(root, other, progress=False, log=quiet)
    assert (work_folder(other) / "thesis.txt").read_text() == "mine"


def _damaged_source(tmp_path: Path, n: int = 30) -> Path:
    root = layouts.hf_imagefolder(tmp_path / "hf", n=n)
    good = (root / "train" / "0001.png").read_bytes()
    (root / "train" / "0002.png").write_bytes(good[: len(good) // 2])        # truncated
    (root / "train" / "0003.png").write_bytes(b"")                           # empty
    (root / "train" / "0004.png").write_bytes(b"\x89PNG not really")         # undecodable
    (root / "train" / "0005.png").unlink()                                   # missing
    rows = [{"file_name": f"{i:04d}.png", "text": layouts.caption(i) if i != 6 else "  "} for i in range(n)]
    layouts.write_table(root / "train" / "metadata.csv", rows)               # 0006: only an empty caption
    return root


def test_bad_files_are_rejected_with_path_and_reason_counted_and_the_limit_enforced(tmp_path):
    root = _damaged_source(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(TooManyRejected, match=r"(?s)5 of 37 samples are bad \(13.5%\).*max_rejected = 1.0%.*"
                                              r"0002.png: cannot decode image.*0003.png: image file is empty"):
        prepare(root, out, modalities={"image": {"size": 16}}, shard_size=8, progress=False, log=quiet)
    assert not out.exists() and work_folder(out).exists()          # the work so far is kept for a rerun
    prepare(root, out, modalities={"image": {"size": 16}}, shard_size=8, max_rejected=0.2, progress=False,
            log=quiet)
    manifest = json.loads((out / "prepared.json").read_text())
    assert manifest["counts"]["rejected"] == 5 and manifest["counts"]["kept"] == 32
    lines = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    reasons = {Path(e["path"]).name: e["reason"] for e in lines}
    assert "cannot decode image" in reasons["0002.png"] and "empty" in reasons["0003.png"]
    assert "cannot decode image" in reasons["0004.png"] and "does not exist" in reasons["0005.png"]
    by_key = {(e["key"], e["kind"]): e for e in lines}
    assert by_key[("train/0006.png", "sample")]["reason"] == "every caption is empty"
    assert by_key[("train/0006.png", "sample")]["path"].endswith("train/metadata.csv:8")
    assert by_key[("train/0006.png", "caption")]["reason"] == "empty caption"


@pytest.mark.slow
def test_a_worker_pool_writes_the_same_shards_as_one_process(tmp_path):
    root = layouts.coco(tmp_path / "coco", n=30)
    kw = dict(modalities={"image": {"size": 16}}, shard_size=6, progress=False, log=quiet)
    one = prepare(root, tmp_path / "one", workers=1, **kw)
    pool = prepare(root, tmp_path / "pool", workers=2, **kw)
    assert tree(one) == tree(pool)
