"""Expectation maximisation for the diagonal Gaussian mixtures of fitted latent priors."""

import math

import pytest
import torch

from synesthesia.sampling import SamplingError
from synesthesia.sampling.densities import fit_diagonal_gmm, select_diagonal_gmm


def _two_blobs(n: int, g: torch.Generator) -> torch.Tensor:
    """n points: 30 % around (-3, 0) and 70 % around (3, 1), variances 0.5 and (0.2, 1.0)."""
    left = torch.rand(n, generator=g) < 0.3
    noise = torch.randn(n, 2, generator=g)
    a = torch.tensor([-3.0, 0.0]) + noise * math.sqrt(0.5)
    b = torch.tensor([3.0, 1.0]) + noise * torch.tensor([0.2, 1.0]).sqrt()
    return torch.where(left[:, None], a, b)


def test_em_recovers_a_known_mixture():
    g = torch.Generator().manual_seed(0)
    means, logvars, log_w = fit_diagonal_gmm(_two_blobs(4000, g), 2, generator=g)
    order = means[:, 0].argsort()
    means, var, w = means[order], logvars[order].exp(), log_w[order].exp()
    assert torch.allclose(means, torch.tensor([[-3.0, 0.0], [3.0, 1.0]]), atol=0.08)
    assert torch.allclose(var, torch.tensor([[0.5, 0.5], [0.2, 1.0]]), rtol=0.12)
    assert torch.allclose(w, torch.tensor([0.3, 0.7]), atol=0.03)
    with pytest.raises(SamplingError, match="components must be between 1"):
        fit_diagonal_gmm(torch.randn(3, 2), 4)


def test_held_out_likelihood_chooses_the_number_of_components():
    g = torch.Generator().manual_seed(1)
    x = _two_blobs(3000, g)
    groups = torch.arange(1000).repeat(3)            # three draws per row, held out together
    (means, _, log_w), scores = select_diagonal_gmm(x, groups, [1, 2, 3], generator=g)
    assert scores[2] > scores[1] + 0.5               # one Gaussian fits two blobs badly
    assert len(means) == max(scores, key=scores.get) and torch.logsumexp(log_w, 0).item() == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(SamplingError, match="at least two groups"):
        select_diagonal_gmm(x, torch.zeros(3000), [1], generator=g)

