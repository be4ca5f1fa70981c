"""Shared tiny fixtures: a small world and modalities sized to train in seconds."""

import numpy as np
import pytest
import torch

from synesthesia.modalities import build_modality
from synesthesia.modalities.text import TextModality
from synesthesia.world import WorldConfig
from synesthesia.world.world import ShapesWorld

TINY_WORLD = {"level": 3, "image_size": 16, "video_size": 16, "video_frames": 4, "audio_seconds": 0.25}
TINY_MODALITIES = {
    "image": {"size": 16, "channels": 8, "feature_dim": 32},
    "audio": {"seconds": 0.25, "frames": 16, "n_mels": 16, "n_fft": 256, "channels": 16, "feature_dim": 32},
    "video": {"size": 16, "frames": 4, "channels": 4, "feature_dim": 32},
    "text": {"feature_dim": 32, "embed": 16, "hidden": 32},
}


@pytest.fixture(scope="session")
def tiny_world():
    return ShapesWorld(WorldConfig(**TINY_WORLD))


@pytest.fixture(scope="session")
def tiny_modalities(tiny_world):
    captions = tiny_world.render("train", np.arange(256), ["text"])["text"]
    from synesthesia.world.captions import caption_vocabulary

    mods = {m: build_modality(m, **cfg) for m, cfg in TINY_MODALITIES.items() if m != "text"}
    mods["text"] = TextModality.from_captions(captions, extra_words=caption_vocabulary(), **TINY_MODALITIES["text"])
    return mods


@pytest.fixture(scope="session")
def tiny_data(tiny_world, tiny_modalities):
    """A TensorDataset of 256 training samples of the tiny world."""
    from synesthesia.data.sources import WorldSource

    return WorldSource(tiny_world.config).dataset("train", 256, tiny_modalities)


@pytest.fixture()
def seeded():
    torch.manual_seed(0)
    return torch.Generator().manual_seed(0)


def tiny_run_config(**train):
    """A RunConfig that trains the tiny world's four modalities in a few seconds."""
    from synesthesia.runs import RunConfig

    return RunConfig.from_dict({
        "family": "joint_vae",
        "model": {"fusion": "mopoe", "latent_dim": 8},
        "modalities": {m: dict(c) for m, c in TINY_MODALITIES.items()},
        "data": {"world": dict(TINY_WORLD), "n_train": 128, "n_val": 32},
        "train": {"batch_size": 32, "max_steps": 4, "max_epochs": 50, "checkpoint_every": 2,
                  "log_every": 1, **train},
    })


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A trained run folder (4 steps) shared by the pipeline and CLI tests."""
    from synesthesia.training.run import train

    return train(tiny_run_config(), tmp_path_factory.mktemp("runs") / "tiny", progress=False)


# -- judges: tiny worlds and oracles trained with tiny budgets in a temporary cache --------------
# Level 1 (shape only) at 16 px learns to ~100 % in about a second.
def tiny_oracle_training():
    from synesthesia.world.judges.oracles import OracleTraining

    return OracleTraining(n_train=1536, epochs=2, n_test=500)


@pytest.fixture(scope="session")
def image_world() -> WorldConfig:
    return WorldConfig(level=1, image_size=16, modalities=("image", "text"))


@pytest.fixture(scope="session")
def oracle_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("oracles")


@pytest.fixture(scope="session")
def image_oracle(image_world, oracle_cache):
    from synesthesia.world.judges.oracles import get_oracle

    return get_oracle(image_world, "image", cache_dir=oracle_cache, training=tiny_oracle_training())
