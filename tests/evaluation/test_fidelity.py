import numpy as np
import pytest
import torch
from torch import nn

from synesthesia.errors import SynesthesiaError
from synesthesia.evaluation import fid, fidelity_scores, kid, precision_recall
from synesthesia.world import WorldConfig
from synesthesia.world.world import ShapesWorld


class Flatten(nn.Module):
    """Feature module for known-answer tests: features are the inputs themselves."""

    num_features = 8

    def forward(self, x):
        return x.float().reshape(len(x), -1)


def gaussian(n, shift=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 8, generator=g) + shift


def test_fid_closed_form_and_identical_sets():
    a = gaussian(2000)
    assert fid(a, a, Flatten()) == pytest.approx(0.0, abs=1e-3)
    # same covariance, mean moved by 3 along every axis: FID ~ |dmu|^2 = 8 * 9
    assert fid(a, gaussian(2000, 3.0, seed=1), Flatten()) == pytest.approx(72.0, rel=0.05)


def test_kid_identical_and_different_sets():
    a, b = gaussian(600), gaussian(600, seed=1)
    same, _ = kid(a, a, Flatten(), subsets=10, subset_size=200)
    indep, _ = kid(a, b, Flatten(), subsets=10, subset_size=200)
    far, _ = kid(a, gaussian(600, 1.0, seed=2), Flatten(), subsets=10, subset_size=200)
    assert abs(same) < 0.05 and abs(indep) < 0.05
    assert far > 10 * max(abs(indep), 1e-3)


def test_precision_recall_known_answers():
    a = gaussian(300)
    assert precision_recall(a, a) == (1.0, 1.0)
    assert precision_recall(a, a + 100.0) == (0.0, 0.0)
    one = a[:1].repeat(300, 1)                   # a model that always returns one real sample
    precision, recall = precision_recall(a, one)
    assert precision == 1.0 and recall < 0.05
    p_ind, r_ind = precision_recall(a, gaussian(300, seed=1))
    assert p_ind > 0.7 and r_ind > 0.7


def test_oracle_features_tell_real_from_different(image_world, image_oracle):
    world = ShapesWorld(image_world)
    real = world.render("test", range(600), ["image"])["image"]
    real2 = world.render("test", range(600, 1200), ["image"])["image"]
    other = ShapesWorld(WorldConfig(level=3, image_size=16, modalities=("image",))).render(
        "test", range(600), ["image"])["image"]
    feature = image_oracle.feature_extractor()
    same, indep, diff = fid(real, real, feature), fid(real, real2, feature), fid(real, other, feature)
    assert abs(same) < 1e-2 * diff
    assert indep < 0.25 * diff
    scores = fidelity_scores(real, real2, feature, kid_subsets=10, kid_subset_size=300)
    assert scores["fid"] == pytest.approx(indep, rel=1e-3)
    assert scores["precision"] > 0.8 and scores["recall"] > 0.8
    assert set(scores) == {"fid", "kid", "kid_std", "precision", "recall"}


def test_feature_module_stays_in_eval_mode(image_oracle):
    feature = image_oracle.feature_extractor()
    feature.train()
    assert not feature.training and not feature.net.training
    x = torch.zeros(4, 16, 16, 3, dtype=torch.uint8)
    assert feature(x).shape == (4, feature.num_features)


def test_bad_inputs_fail_loudly():
    with pytest.raises(SynesthesiaError, match="num_features"):
        fid(gaussian(10), gaussian(10), nn.Identity())
    with pytest.raises(SynesthesiaError, match="nearest neighbours|at least"):
        precision_recall(gaussian(3), gaussian(3), k=3)
    with pytest.raises(SynesthesiaError, match="same D"):
        precision_recall(gaussian(10), torch.zeros(10, 4))
    with pytest.raises(SynesthesiaError, match="non-empty"):
        fid(np.zeros((0, 8)), gaussian(10), Flatten())
    with pytest.raises(SynesthesiaError, match="at least 2"):
        fid(gaussian(10), gaussian(1), Flatten())
