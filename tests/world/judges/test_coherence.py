import numpy as np
import pytest

from synesthesia.errors import SynesthesiaError
from synesthesia.world import WorldConfig
from synesthesia.world.judges import chance_coherence, coherence, get_oracle, oracle_coherence
from synesthesia.world.world import ShapesWorld


def test_perfect_predictions_score_one():
    codes = ShapesWorld(WorldConfig(level=5)).codes("test", range(300))
    result = coherence(codes, codes)
    assert result.strict == 1.0
    assert set(result.per_attribute.values()) == {1.0}
    assert result.counts["strict"] == 300


def test_real_captions_read_by_the_text_oracle_score_one():
    world = WorldConfig(level=5, modalities=("text",))
    batch = ShapesWorld(world).render("test", range(400))
    oracle = get_oracle(world, "text")
    result = oracle_coherence(oracle, batch["text"], batch["codes"])
    assert result.strict == 1.0
    assert set(result.per_attribute) == set(world.varied)


def test_real_images_read_by_a_trained_oracle(image_world, image_oracle):
    batch = ShapesWorld(image_world).render("test", range(1000, 1400), ["image"])
    result = oracle_coherence(image_oracle, batch["image"], batch["codes"])
    assert result.strict >= 0.95
    assert list(result.per_attribute) == ["shape"]


def test_shuffled_pairs_score_chance():
    codes = ShapesWorld(WorldConfig(level=3)).codes("test", range(6000))
    perm = np.random.default_rng(0).permutation(6000)
    shuffled = {a: c[perm] for a, c in codes.items()}
    attrs = ["shape", "size", "colour"]
    result = coherence(shuffled, codes, attrs)
    chance = chance_coherence(codes, attrs)
    values = {"shape": 6, "size": 3, "colour": 8}
    for a in attrs:
        assert chance.per_attribute[a] == pytest.approx(1 / values[a], abs=0.01)
        assert result.per_attribute[a] == pytest.approx(chance.per_attribute[a], abs=0.02)
    assert result.strict == pytest.approx(chance.strict, abs=0.01)      # 1/144


def test_unspecified_truth_is_not_scored():
    truth = {"shape": np.array([0, 1, 2, -1]), "colour": np.array([3, -1, 5, -1])}
    pred = {"shape": np.array([0, 1, 0, 4]), "colour": np.array([3, 7, 5, 0])}
    result = coherence(pred, truth)
    assert result.per_attribute == {"shape": pytest.approx(2 / 3), "colour": 1.0}
    assert result.counts == {"shape": 3, "colour": 2, "strict": 3}      # row 3 specifies nothing
    assert result.strict == pytest.approx(2 / 3)
    assert result.to_dict()["coherence/colour"] == 1.0


def test_unreadable_prediction_is_wrong_and_nothing_specified_is_nan():
    result = coherence({"shape": np.array([-1, 2])}, {"shape": np.array([1, 2])})
    assert result.strict == 0.5
    empty = coherence({"shape": np.array([1])}, {"shape": np.array([-1])})
    assert np.isnan(empty.strict) and np.isnan(empty.per_attribute["shape"])


def test_bad_inputs_fail_loudly():
    with pytest.raises(SynesthesiaError, match="lack attribute"):
        coherence({"shape": [1]}, {"shape": [1], "size": [0]}, ["shape", "size"])
    with pytest.raises(SynesthesiaError, match="one prediction per sample"):
        coherence({"shape": [1, 2]}, {"shape": [1]})
    with pytest.raises(SynesthesiaError, match="share none"):
        coherence({"shape": [1]}, {"size": [1]})
