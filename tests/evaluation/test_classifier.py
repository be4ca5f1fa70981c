"""Class judges: classifiers of one modality trained with the small loop, read back, saved."""

import numpy as np
import pytest
import torch

from synesthesia.evaluation.classifier import ClassJudge, JudgeError, load_class_judge, random_shift, train_class_judge
from synesthesia.evaluation.fidelity import fid
from synesthesia.world.attributes import ATTRIBUTES

COLOURS = list(ATTRIBUTES["colour"])


@pytest.fixture(scope="module")
def colour_data(tiny_world, tiny_modalities):
    """Tiny-world images (model form) and their colour codes: 768 to train, 256 held out."""
    image = tiny_modalities["image"]

    def part(split, n):
        batch = tiny_world.render(split, np.arange(n), ["image"])
        return image.encode(list(batch["image"])), torch.as_tensor(batch["codes"]["colour"])
    return part("train", 768), part("test", 256)


@pytest.fixture(scope="module")
def judge(tiny_modalities, colour_data):
    (x, y), val = colour_data
    return train_class_judge(tiny_modalities["image"], COLOURS, x, y, val=val, steps=150, batch_size=64,
                             lr=3e-3, augment=random_shift(1), seed=0)


def test_judge_reads_the_class_of_held_out_samples(judge, colour_data):
    _, (x, y) = colour_data
    held = judge.info["heldout"]
    assert held["samples"] == 256 and held["accuracy"] > 0.8
    assert judge.accuracy(x, y) == pytest.approx(held["accuracy"])
    assert set(held["per_class"]) <= set(COLOURS) and min(held["per_class"].values()) >= 0.0
    assert judge.info["training"]["steps"] == 150 and judge.info["training"]["augmented"]


def test_a_judge_trained_on_shuffled_labels_reads_near_chance(tiny_modalities, colour_data):
    (x, y), (vx, vy) = colour_data
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]
    blind = train_class_judge(tiny_modalities["image"], COLOURS, x, shuffled, steps=60, batch_size=64, seed=0)
    assert blind.accuracy(vx, vy) < 0.45


def test_same_seed_same_judge_and_save_load_round_trip(judge, tiny_modalities, colour_data, tmp_path):
    (x, y), (vx, _) = colour_data
    again = train_class_judge(tiny_modalities["image"], COLOURS, x, y, steps=150, batch_size=64, lr=3e-3,
                              augment=random_shift(1), seed=0)
    assert torch.equal(again.logits(vx[:32]), judge.logits(vx[:32]))
    judge.info["heldout_round_trip"] = {"accuracy": 0.5, "samples": 4}           # a record a caller adds
    judge.save(tmp_path / "judge")
    loaded = load_class_judge(tmp_path / "judge")
    assert loaded.classes == COLOURS and loaded.info == judge.info
    assert torch.allclose(loaded.logits(vx), judge.logits(vx))
    (tmp_path / "empty").mkdir()
    with pytest.raises(JudgeError, match="no complete class judge"):
        load_class_judge(tmp_path / "empty")


def test_fid_on_judge_features_separates_real_from_noise(judge, colour_data):
    (x, _), (vx, _) = colour_data
    feature = judge.feature_extractor()
    assert feature.num_features == judge.modality.feature_dim
    noise = torch.rand(len(vx), *vx.shape[1:], generator=torch.Generator().manual_seed(0))
    assert fid(x[:256], vx, feature) < 0.2 * fid(x[:256], noise, feature)


def test_bad_labels_and_classes_are_refused(tiny_modalities, colour_data):
    (x, y), _ = colour_data
    with pytest.raises(JudgeError, match="labels must lie in"):
        train_class_judge(tiny_modalities["image"], ["red", "blue"], x, y, steps=1)
    with pytest.raises(JudgeError, match="one label each"):
        train_class_judge(tiny_modalities["image"], COLOURS, x, y[:10], steps=1)
    with pytest.raises(JudgeError, match="at least two classes"):
        ClassJudge(tiny_modalities["image"], ["only"])


def test_random_shift_moves_content_and_keeps_shapes():
    g = torch.Generator().manual_seed(0)
    image = torch.zeros(64, 3, 8, 8)
    image[:, :, 4, 4] = 1.0
    moved = random_shift(2)(image, g)
    assert moved.shape == image.shape and torch.allclose(moved.sum((1, 2, 3)), image.sum((1, 2, 3)))
    assert (moved[:, 0, 4, 4] == 0).any()                       # some samples moved the dot
    spec = torch.arange(40.0).repeat(16, 4, 1)                  # (16, 4, 40): time along the last axis
    shifted = random_shift(3, dims=1)(spec, g)
    assert shifted.shape == spec.shape and torch.equal(shifted[:, 0], shifted[:, 1])
    assert (shifted[:, 0, 10] - 10).abs().max() <= 3
