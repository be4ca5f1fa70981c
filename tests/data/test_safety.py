"""Paths from a dataset's own files stay inside its folder; only regular files are opened and
every read is bounded."""

import json
import os
import warnings

import layouts
import pytest

from synesthesia.data.errors import DataError, DataLayoutError, SampleError
from synesthesia.data.plan import make_plan
from synesthesia.data.readers import ReaderOptions
from synesthesia.data.readers.safety import CAPTION_LIMIT, confine, read_bounded
from synesthesia.data.sources import ManifestSource
from synesthesia.data.user_source import ReaderSource
from synesthesia.modalities import build_modality


def manifest_with(root, rows):
    root.mkdir(parents=True, exist_ok=True)
    layouts.write_image(root / "image" / "ok.png", 0)
    good = [{"id": f"ok{k}", "image": "image/ok.png", "caption": "a red square"} for k in range(4)]
    rows = [{**r, "split": "train"} for r in good + rows]
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "manifest.jsonl"


def rejected(path, **options):
    source = ReaderSource.from_path(path, options=ReaderOptions(**options), max_rejected=1.0)
    mods = source.resolve_modalities(source.modalities, {"image": {"size": 16}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = source.dataset("train", 100, mods)
    return {r["key"]: r["reason"] for r in source.rejected["train"] if r["kind"] == "sample"}, ds, mods


@pytest.fixture()
def secret(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("classified password hunter2\n")
    return path


def test_traversal_absolute_paths_and_symlinks_out_are_refused_and_never_read(tmp_path, secret):
    root = tmp_path / "data"
    root.mkdir()
    os.symlink(secret, root / "link.txt")
    os.symlink(tmp_path, root / "up")
    path = manifest_with(root, [
        {"id": "dots", "image": "image/ok.png", "text": "../secret.txt"},
        {"id": "abs", "image": "image/ok.png", "text": str(secret)},
        {"id": "link", "image": "image/ok.png", "text": "link.txt"},
        {"id": "dirlink", "image": "image/ok.png", "text": "up/secret.txt"},
        {"id": "passwd", "image": "../../../../etc/passwd"},
    ])
    reasons, ds, mods = rejected(path)
    assert "climbs out" in reasons["dots"] and "data.allow_outside" in reasons["dots"]
    assert "absolute path" in reasons["abs"]
    assert "outside the dataset folder" in reasons["link"] and "outside" in reasons["dirlink"]
    assert "climbs out" in reasons["passwd"]
    assert len(ds) == 4
    vocab = mods["text"].tokenizer.get_vocab()
    assert "hunter2" not in vocab and "classified" not in vocab


def test_allow_outside_lets_the_user_name_files_elsewhere(tmp_path, secret):
    path = manifest_with(tmp_path / "data", [{"id": "abs", "image": "image/ok.png", "text": str(secret)}])
    reasons, ds, _ = rejected(path, allow_outside=True)
    assert not reasons and len(ds) == 5


def test_hf_file_names_are_confined_too(tmp_path):
    root = layouts.hf_imagefolder(tmp_path / "hf", n=8)
    layouts.write_image(tmp_path / "outside.png", 1)
    rows = [{"file_name": f"{i:04d}.png", "text": "a red square"} for i in range(8)]
    rows.append({"file_name": "../../outside.png", "text": "a red square"})
    layouts.write_table(root / "train" / "metadata.csv", rows)
    reasons, ds, _ = rejected(root)
    assert len(ds) == 8 and "climbs out" in reasons["train/../../outside.png"]


def test_a_fifo_and_dev_zero_are_refused_without_reading(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    os.mkfifo(root / "pipe.txt")
    os.mkfifo(root / "pipe.png")
    os.symlink("/dev/zero", root / "zero.txt")
    path = manifest_with(root, [
        {"id": "fifo", "image": "image/ok.png", "text": "pipe.txt"},
        {"id": "fifo-image", "image": "pipe.png", "caption": "a red square"},
        {"id": "zero", "image": "image/ok.png", "text": "zero.txt"},
        {"id": "devzero", "image": "image/ok.png", "text": "/dev/zero"},
    ])
    reasons, ds, _ = rejected(path, allow_outside=True)         # even where outside paths are allowed
    assert "FIFO" in reasons["fifo"] and "FIFO" in reasons["fifo-image"]
    assert "character device" in reasons["zero"] and "character device" in reasons["devzero"]
    with pytest.raises(SampleError, match="character device"):
        read_bounded("/dev/zero", 10)


def test_a_caption_file_over_one_megabyte_is_refused(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "big.txt").write_text("word " * (CAPTION_LIMIT // 5 + 10))
    (root / "empty.txt").write_text("  \n")
    path = manifest_with(root, [{"id": "big", "image": "image/ok.png", "text": "big.txt"},
                                {"id": "blank", "image": "image/ok.png", "text": "empty.txt"}])
    reasons, ds, _ = rejected(path)
    assert "over the limit of 1,048,576" in reasons["big"]
    assert "white space" in reasons["blank"]


def test_metadata_files_have_a_size_limit_with_a_clear_error(tmp_path):
    path = layouts.manifest(tmp_path / "m", n=40)
    with pytest.raises(DataLayoutError, match=r"manifest.jsonl: metadata file is [\d,]+ bytes, over the limit "
                                              r"of 1,000.*data.max_metadata_mb"):
        make_plan(path, options=ReaderOptions(max_metadata_bytes=1000))
    os.mkfifo(tmp_path / "fifo.jsonl")
    with pytest.raises(DataLayoutError, match="FIFO"):
        make_plan(tmp_path / "fifo.jsonl")
    with pytest.raises(DataLayoutError, match="FIFO"):
        make_plan(tmp_path / "fifo.jsonl", format="manifest")
    os.mkfifo(tmp_path / "m" / "train.csv")                 # detection never opens it
    assert make_plan(tmp_path / "m").format == "manifest"


def test_confine_accepts_inner_paths_and_links_that_stay_inside(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"1")
    os.symlink(tmp_path / "a" / "x.png", tmp_path / "inner.png")
    assert confine(tmp_path, "a/x.png") == tmp_path / "a" / "x.png"
    assert confine(tmp_path, "inner.png") == tmp_path / "inner.png"
    assert confine(tmp_path, "a/./x.png").name == "x.png"
    for bad in ("/etc/passwd", "../x", "a/../../x", "C:\\x", "", "a\x00b"):
        with pytest.raises(SampleError):
            confine(tmp_path, bad)


def test_the_in_memory_manifest_source_is_confined_as_well(tmp_path, secret):
    path = manifest_with(tmp_path / "data", [{"id": "dots", "image": "image/ok.png", "text": "../secret.txt"}])
    source = ManifestSource.from_path(path)
    with pytest.raises(DataError, match="climbs out"):
        source.captions("train", 100)
    os.mkfifo(tmp_path / "data" / "pipe.png")
    source.rows = [{"image": "pipe.png", "caption": "x"}]
    with pytest.raises(DataError, match="FIFO"):
        source.dataset("train", 1, {"image": build_modality("image", size=16)})
