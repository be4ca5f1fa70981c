import json

import numpy as np
import pytest

from synesthesia.cli import main
from synesthesia.errors import OutputError
from synesthesia.world import WorldConfig, WorldError
from synesthesia.world import cache as cache_mod
from synesthesia.world.cache import WorldCache, write_cache
from synesthesia.world.world import ShapesWorld


def test_cache_round_trip(tmp_path):
    world = ShapesWorld(WorldConfig(level=5, seed=3, holdout=("shape=star",)))
    out = write_cache(world, tmp_path / "c", 120, shard_size=25, chunk=16)
    data = WorldCache(out)
    assert sum(data.splits.values()) == 120
    assert set(data.splits) == {"train", "val", "test", "holdout"} and data.splits["train"] > 100
    assert data.fingerprint == world.config.fingerprint()
    idx = np.array([5, 0, 99, 26, 50, 24])
    got = data.get("train", idx)
    ref = world.render("train", idx)
    assert np.array_equal(got["image"], ref["image"])
    assert np.array_equal(got["video"], ref["video"])
    assert got["text"] == ref["text"]
    assert np.abs(got["audio"] - ref["audio"]).max() < 1e-4
    for a in ref["codes"]:
        assert np.array_equal(got["codes"][a], ref["codes"][a])
    # arrays are memory-mapped, not loaded
    shard = data._shards["train"][0]
    assert isinstance(shard.arrays["image"], np.memmap)


def test_interrupted_build_leaves_nothing(tmp_path, monkeypatch):
    world = ShapesWorld(WorldConfig(level=2, modalities=("image", "text")))
    calls = {"n": 0}
    original = cache_mod._to_stored

    def failing(batch, audio_dtype):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(batch, audio_dtype)

    monkeypatch.setattr(cache_mod, "_to_stored", failing)
    with pytest.raises(KeyboardInterrupt):
        write_cache(world, tmp_path / "c", 100, chunk=10)
    assert not (tmp_path / "c").exists()
    assert not list(tmp_path.rglob("manifest.json"))
    assert list(tmp_path.iterdir()) == []


def test_an_existing_cache_is_never_replaced(tmp_path):
    world = ShapesWorld(WorldConfig(level=1, modalities=("image",)))
    write_cache(world, tmp_path / "c", 10)
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="holds a cache; synesthesia never replaces"):
            write_cache(world, tmp_path / "c", 12, overwrite=overwrite)
    assert sum(WorldCache(tmp_path / "c").splits.values()) == 10
    other = tmp_path / "other"
    other.mkdir()
    (other / "old.txt").write_text("scratch")
    with pytest.raises(OutputError, match="--overwrite"):
        write_cache(world, other, 12)
    write_cache(world, other, 12, overwrite=True)          # a folder that holds no cache may be replaced
    assert sum(WorldCache(other).splits.values()) == 12 and not (other / "old.txt").exists()


def test_not_a_cache_error(tmp_path):
    with pytest.raises(WorldError, match="not a world cache"):
        WorldCache(tmp_path)


def test_cli_make_export_show(tmp_path, capsys):
    out = tmp_path / "l3"
    assert main(["world", "make", "--level", "3", "--n", "40", "--out", str(out),
                 "--holdout", "shape=star,colour=red"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["world"]["holdout"] == [{"colour": "red", "shape": "star"}]
    files = tmp_path / "files"
    assert main(["world", "export", str(out), "--n", "5", "--out", str(files)]) == 0
    lines = [json.loads(line) for line in (files / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) == 5
    for row in lines:
        for m in ("image", "text", "audio", "video"):
            assert (files / row[m]).is_file()
        assert set(row["attributes"]) == {"shape", "size", "colour", "motion"}
    from synesthesia.modalities.files import read_audio, read_image, read_video
    assert read_image(files / lines[0]["image"]).size == (32, 32)
    wave, rate = read_audio(files / lines[0]["audio"])
    assert rate == 8000 and wave.shape == (8000,)
    assert read_video(files / lines[0]["video"]).shape == (8, 32, 32, 3)
    grid = tmp_path / "grid.png"
    assert main(["world", "show", "--levels", "1,5", "--n", "3", "--out", str(grid)]) == 0
    assert grid.is_file()
    # a bad holdout is a clear error, not a traceback
    assert main(["world", "make", "--n", "4", "--out", str(tmp_path / "x"),
                 "--holdout", "shape=zebra"]) == 2
    assert "unknown value 'zebra'" in capsys.readouterr().err
