"""Shared fixtures: tiny worlds and oracles trained with tiny budgets in a temporary cache."""

import pytest

from synesthesia.evaluation.oracles import OracleTraining, get_oracle
from synesthesia.world import WorldConfig

# Level 1 (shape only) at 16 px learns to ~100 % in about a second.
TINY = OracleTraining(n_train=1536, epochs=2, n_test=500)


@pytest.fixture(scope="session")
def image_world() -> WorldConfig:
    return WorldConfig(level=1, image_size=16, modalities=("image", "text"))


@pytest.fixture(scope="session")
def oracle_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("oracles")


@pytest.fixture(scope="session")
def image_oracle(image_world, oracle_cache):
    return get_oracle(image_world, "image", cache_dir=oracle_cache, training=TINY)
