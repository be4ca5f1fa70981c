import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

import synesthesia.world.judges.oracles as oracles
from synesthesia.world import WorldConfig
from synesthesia.world.judges import OracleError, OracleTraining, TextOracle, get_oracle, get_oracles, oracle_world
from synesthesia.world.judges.oracles import default_cache_dir, oracle_attributes, oracle_paths
from synesthesia.world.world import ShapesWorld

MICRO = OracleTraining(n_train=256, epochs=1, n_test=64)


def test_second_call_loads_from_disk_without_training(tmp_path, monkeypatch):
    world = WorldConfig(level=1, image_size=16, modalities=("image",))
    first = get_oracle(world, "image", cache_dir=tmp_path, training=MICRO)
    weights, info = oracle_paths(world, "image", tmp_path)
    assert first.info["source"] == "trained" and weights.is_file() and info.is_file()
    stamps = (weights.stat().st_mtime_ns, info.stat().st_mtime_ns)

    def no_training(*args, **kwargs):
        raise AssertionError("the cached oracle should have been loaded")

    monkeypatch.setattr(oracles, "train_oracle", no_training)
    second = get_oracle(world, "image", cache_dir=tmp_path)
    assert second.info["source"] == "cache"
    assert (weights.stat().st_mtime_ns, info.stat().st_mtime_ns) == stamps
    assert second.accuracy == first.accuracy
    x = ShapesWorld(world).render("test", range(32), ["image"])["image"]
    assert np.array_equal(second.predict(x)["shape"], first.predict(x)["shape"])
    assert torch.allclose(second.features(x), first.features(x), atol=1e-6)


def test_cache_files_are_safetensors_and_json(tmp_path):
    world = WorldConfig(level=2, sample_rate=8000, audio_seconds=0.25, modalities=("audio",))
    get_oracle(world, "audio", cache_dir=tmp_path, training=MICRO)
    weights, info = oracle_paths(world, "audio", tmp_path)
    with safe_open(str(weights), "pt") as f:
        assert f.metadata()["fingerprint"] == oracle_world(world, "audio").fingerprint()
    meta = json.loads(info.read_text())
    assert meta["attributes"] == ["shape", "size"] and set(meta["accuracy"]) == {"shape", "size"}
    assert meta["training"]["n_train"] == 256
    assert not list(tmp_path.rglob("*.tmp*"))                        # nothing half-written left


def test_a_different_budget_retrains(tmp_path):
    world = WorldConfig(level=1, image_size=16, modalities=("image",))
    get_oracle(world, "image", cache_dir=tmp_path, training=MICRO)
    smaller = OracleTraining(n_train=128, epochs=1, n_test=64)
    again = get_oracle(world, "image", cache_dir=tmp_path, training=smaller)
    assert again.info["source"] == "trained"
    assert get_oracle(world, "image", cache_dir=tmp_path).info["training"]["n_train"] == 128


def test_default_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNESTHESIA_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "oracles"
    weights, _ = oracle_paths(WorldConfig(level=1), "image")
    assert weights.parent.parent == tmp_path / "oracles" and weights.name == "image.safetensors"
    monkeypatch.delenv("SYNESTHESIA_CACHE")
    assert str(default_cache_dir()).endswith(".cache/synesthesia/oracles")


def test_oracle_world_keeps_only_what_the_modality_shows():
    base = WorldConfig(level=5, holdout=("shape=star,colour=red",), partial_caption_p=0.3, seed=4)
    assert "motion" in base.varied
    assert oracle_attributes(base, "image") == ("shape", "size", "colour", "position", "background")
    assert oracle_attributes(base, "audio") == oracle_attributes(base, "image")   # not sonified
    assert oracle_attributes(base, "video")[-1] == "motion"
    ow = oracle_world(base, "image")
    assert ow.holdout == () and ow.seed == 0 and ow.modalities == ("image",)
    # options the image never depends on do not change the oracle; its size does
    same = WorldConfig(level=5, sample_rate=16000, video_frames=4)
    assert oracle_world(same, "image").fingerprint() == ow.fingerprint()
    assert oracle_world(WorldConfig(level=5, image_size=64), "image").fingerprint() != ow.fingerprint()
    # the level only names the attributes; the same attributes give the same oracle
    two = oracle_world(WorldConfig(level=2, modalities=("image",)), "image")
    assert oracle_world(WorldConfig(level=4, attributes=("size", "shape")), "image") == two
    assert two.level == 2


def test_requests_that_cannot_work_fail_loudly():
    with pytest.raises(OracleError, match="no 'video' modality"):
        get_oracle(WorldConfig(level=1, modalities=("image",)), "video")
    with pytest.raises(OracleError, match="choose from"):
        get_oracle(WorldConfig(level=1), "smell")
    with pytest.raises(OracleError, match="nothing to classify"):
        oracle_world(WorldConfig(attributes=("motion",)), "image")


def test_tiny_image_oracle_is_accurate_and_checks_its_input(image_world, image_oracle):
    assert image_oracle.accuracy["shape"] >= 0.95
    batch = ShapesWorld(image_world).render("test", range(2000, 2200), ["image"])
    pred = image_oracle.predict(batch["image"])
    assert pred["shape"].dtype == np.int64 and pred["shape"].shape == (200,)
    assert (pred["shape"] == batch["codes"]["shape"]).mean() >= 0.95
    with pytest.raises(OracleError, match="uint8"):
        image_oracle.predict(batch["image"].astype(np.float32) / 255)
    with pytest.raises(OracleError, match="shape"):
        image_oracle.predict(np.zeros((2, 32, 32, 3), np.uint8))


@pytest.mark.slow
@pytest.mark.parametrize("modality, options, budget", [
    ("audio", dict(audio_seconds=0.5), OracleTraining(n_train=1024, epochs=2, n_test=400)),
    ("video", dict(video_size=16, video_frames=4),
     OracleTraining(n_train=1536, epochs=3, lr=1e-2, n_test=400)),
])
def test_tiny_sound_and_video_oracles_are_accurate(tmp_path, modality, options, budget):
    world = WorldConfig(level=1, modalities=(modality,), **options)
    oracle = get_oracle(world, modality, cache_dir=tmp_path, training=budget)
    assert set(oracle.accuracy) == ({"shape", "motion"} if modality == "video" else {"shape"})
    assert min(oracle.accuracy.values()) >= 0.95


def test_text_oracle_reads_captions():
    world = WorldConfig(level=4, modalities=("text",), partial_caption_p=0.5)
    batch = ShapesWorld(world).render("test", range(200))
    oracle = get_oracles(world)["text"]
    assert isinstance(oracle, TextOracle) and oracle.accuracy["position"] == 1.0
    pred = oracle.predict(batch["text"])
    assert set(pred) == {"shape", "size", "colour", "position"}
    said = pred["size"] != -1
    assert 0 < said.sum() < 200                                       # partial captions
    assert np.array_equal(pred["size"][said], batch["codes"]["size"][said])
    with pytest.raises(OracleError, match="list of captions"):
        oracle.predict("a red circle")
