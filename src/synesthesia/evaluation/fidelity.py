"""Fidelity of generated samples as distributions, in our own feature space.

* FID, the Fréchet distance between Gaussians fitted to real and generated features
  (Heusel et al., 2017), and KID, the unbiased polynomial-kernel MMD² averaged over subsets
  (Bińkowski et al., 2018) — both computed by torchmetrics with a custom ``feature`` module;
* improved precision and recall (Kynkäänniemi et al., 2019): a generated sample is "precise"
  when it falls inside the k-NN ball of some real sample, a real sample is "recalled" when it
  falls inside the k-NN ball of some generated sample.

Inception features know nothing of a 32-pixel shapes world (and cannot be downloaded here), so
the intended feature module is an oracle's penultimate layer, ``oracle.feature_extractor()``; any
``nn.Module`` mapping a raw batch tensor to features (N, D) works. Raw batches are numpy arrays or
tensors in the form the feature module reads (for oracles: the world's raw arrays).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from synesthesia.errors import SynesthesiaError


class PrecomputedFeatures(nn.Module):
    """Identity feature module: lets torchmetrics compute FID/KID from features already
    extracted (so one extraction serves FID, KID and precision/recall)."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def _batches(raw: Any, batch_size: int):
    x = raw if isinstance(raw, torch.Tensor) else torch.as_tensor(np.asarray(raw))
    if x.ndim < 1 or len(x) == 0:
        raise SynesthesiaError("a fidelity metric needs a non-empty batch of samples")
    for i in range(0, len(x), batch_size):
        yield x[i:i + batch_size]


@torch.no_grad()
def extract_features(feature: nn.Module, raw: Any, batch_size: int = 512) -> torch.Tensor:
    """Features (N, D) float32 of a raw batch, computed ``batch_size`` samples at a time."""
    feature.eval()
    return torch.cat([feature(b).float().reshape(len(b), -1) for b in _batches(raw, batch_size)])


def _check_pair(real: torch.Tensor, fake: torch.Tensor, least: int, what: str) -> None:
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise SynesthesiaError(f"{what} needs features (N, D) with the same D for both sets, got "
                               f"{tuple(real.shape)} and {tuple(fake.shape)}")
    if min(len(real), len(fake)) < least:
        raise SynesthesiaError(f"{what} needs at least {least} samples in each set, got "
                               f"{len(real)} real and {len(fake)} generated")


def _check_module(feature: nn.Module) -> nn.Module:
    if not isinstance(getattr(feature, "num_features", None), int):
        raise SynesthesiaError("the feature module needs an int attribute num_features (the width D "
                               "of its output); oracle.feature_extractor() has one")
    return feature


def _feed(metric: Any, real: Any, fake: Any, batch_size: int) -> tuple[int, int]:
    """Update a torchmetrics FID/KID with both sets; returns their sizes."""
    sizes = []
    for raw, is_real in ((real, True), (fake, False)):
        n = 0
        for b in _batches(raw, batch_size):
            metric.update(b, real=is_real)
            n += len(b)
        sizes.append(n)
    return sizes[0], sizes[1]


def fid(real: Any, fake: Any, feature: nn.Module, batch_size: int = 512) -> float:
    """Fréchet distance between real and generated samples in ``feature`` space (torchmetrics
    ``FrechetInceptionDistance(feature=...)``). Identical sets give ~0; the estimate is biased
    upwards for small sets, so compare FIDs computed on equal numbers of samples."""
    metric = FrechetInceptionDistance(feature=_check_module(feature))
    n_real, n_fake = _feed(metric, real, fake, batch_size)
    if min(n_real, n_fake) < 2:
        raise SynesthesiaError(f"FID needs at least 2 samples in each set, got {n_real} real and "
                               f"{n_fake} generated")
    return float(metric.compute())


def kid(real: Any, fake: Any, feature: nn.Module, subsets: int = 100, subset_size: int = 1000,
        batch_size: int = 512, seed: int = 0) -> tuple[float, float]:
    """``(mean, std)`` of the unbiased MMD² with kernel ``(x·y / D + 1)³`` over ``subsets`` random
    subsets (torchmetrics ``KernelInceptionDistance(feature=...)``); ``subset_size`` is capped at
    the smaller set. Unbiased, so it can dip slightly below 0 for matching distributions."""
    metric = _kid_metric(_check_module(feature), subsets, subset_size)
    n_real, n_fake = _feed(metric, real, fake, batch_size)
    return _kid_compute(metric, min(subset_size, n_real, n_fake), seed)


def _kid_metric(feature: nn.Module, subsets: int, subset_size: int) -> KernelInceptionDistance:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        return KernelInceptionDistance(feature=feature, subsets=subsets, subset_size=subset_size)


def _kid_compute(metric: KernelInceptionDistance, subset_size: int, seed: int) -> tuple[float, float]:
    if subset_size < 2:
        raise SynesthesiaError("KID needs at least 2 samples in each set")
    metric.subset_size = subset_size
    with torch.random.fork_rng(devices=[]):              # KID draws subsets with torch.randperm
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def knn_radii(features: torch.Tensor, k: int = 3, chunk: int = 2048) -> torch.Tensor:
    """Distance (N,) from each feature vector to its k-th nearest neighbour in the same set
    (itself excluded)."""
    if not 1 <= k < len(features):
        raise SynesthesiaError(f"k={k} nearest neighbours need more than {k} samples, "
                               f"got {len(features)}")
    f = features.double()
    radii = [torch.cdist(f[i:i + chunk], f).kthvalue(k + 1, dim=1).values
             for i in range(0, len(f), chunk)]
    return torch.cat(radii)


def manifold_coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor,
                      chunk: int = 2048) -> torch.Tensor:
    """Bool (N,): is each point inside at least one ball ``(centre, radius)``?"""
    c = centres.double()
    inside = [(torch.cdist(points[i:i + chunk].double(), c) <= radii[None, :]).any(dim=1)
              for i in range(0, len(points), chunk)]
    return torch.cat(inside)


def precision_recall(real_features: torch.Tensor, fake_features: torch.Tensor,
                     k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019) of features (N, D).

    precision: fraction of generated samples inside the real manifold (union of k-NN balls of
    the real features); recall: fraction of real samples inside the generated manifold.
    Identical sets score (1, 1); far-apart sets (0, 0); a model that always returns one real
    sample has precision 1 and recall near 0.
    """
    real, fake = torch.as_tensor(real_features), torch.as_tensor(fake_features)
    _check_pair(real, fake, k + 1, "precision/recall")
    precision = manifold_coverage(fake, real, knn_radii(real, k)).double().mean()
    recall = manifold_coverage(real, fake, knn_radii(fake, k)).double().mean()
    return float(precision), float(recall)


def fidelity_scores(real: Any, fake: Any, feature: nn.Module, k: int = 3, kid_subsets: int = 100,
                    kid_subset_size: int = 1000, batch_size: int = 512,
                    seed: int = 0) -> dict[str, float]:
    """FID, KID (mean and std) and precision/recall from one feature extraction per set:
    ``{"fid", "kid", "kid_std", "precision", "recall"}``."""
    fr = extract_features(feature, real, batch_size)                     # (N_real, D)
    ff = extract_features(feature, fake, batch_size)                     # (N_fake, D)
    _check_pair(fr, ff, max(2, k + 1), "fidelity")
    ident = PrecomputedFeatures(fr.shape[1])
    fid_metric = FrechetInceptionDistance(feature=ident)
    kid_metric = _kid_metric(ident, kid_subsets, kid_subset_size)
    for metric in (fid_metric, kid_metric):
        metric.update(fr, real=True)
        metric.update(ff, real=False)
    kid_mean, kid_std = _kid_compute(kid_metric, min(kid_subset_size, len(fr), len(ff)), seed)
    precision, recall = precision_recall(fr, ff, k)
    return {"fid": float(fid_metric.compute()), "kid": kid_mean, "kid_std": kid_std,
            "precision": precision, "recall": recall}
