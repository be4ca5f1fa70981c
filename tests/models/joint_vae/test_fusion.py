import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from synesthesia.models.joint_vae import fusion as F


def test_poe_equals_the_analytic_product_of_gaussians():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(3, 5, 4, generator=g), torch.randn(3, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 0, 1, 0], [1, 0, 1, 1, 0], [0, 1, 1, 1, 1]], dtype=torch.bool)
    m, lv = F.poe(mu, logvar, mask, prior=True)
    for b in range(5):
        # densities multiply: sum of log densities is quadratic with this precision and mean
        prec = 1.0 + sum(torch.exp(-logvar[k, b]) for k in range(3) if mask[k, b])
        mean = sum(mu[k, b] * torch.exp(-logvar[k, b]) for k in range(3) if mask[k, b]) / prec
        assert torch.allclose(lv[b], -torch.log(prec), atol=1e-6)
        assert torch.allclose(m[b], mean, atol=1e-6)
    # the product of two 1-D Gaussians is checked against density arithmetic at many points
    z = torch.linspace(-3, 3, 101)[:, None]
    a, b2 = Normal(0.5, 0.7), Normal(-1.0, 1.3)
    m1, lv1 = F.poe(torch.tensor([[[0.5]], [[-1.0]]]), torch.log(torch.tensor([[[0.49]], [[1.69]]])),
                    torch.ones(2, 1, dtype=torch.bool), prior=False)
    prod = Normal(m1[0, 0], torch.exp(0.5 * lv1[0, 0]))
    diff = (a.log_prob(z) + b2.log_prob(z)) - prod.log_prob(z)
    assert diff.std() < 1e-5                      # equal up to the normalising constant


def test_poe_without_experts_is_the_prior():
    m, lv = F.poe(torch.ones(2, 3, 4), torch.zeros(2, 3, 4), torch.zeros(2, 3, dtype=torch.bool), prior=False)
    assert torch.allclose(m, torch.zeros(3, 4)) and torch.allclose(lv, torch.zeros(3, 4))


def test_kl_and_log_prob_match_torch_distributions():
    mu, logvar = torch.randn(6, 3), torch.randn(6, 3)
    q, p = Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)
    assert torch.allclose(F.gaussian_kl(mu, logvar), kl_divergence(q, p).sum(-1), atol=1e-5)
    z = torch.randn(6, 3)
    assert torch.allclose(F.gaussian_log_prob(z, mu, logvar), q.log_prob(z).sum(-1), atol=1e-5)
    assert torch.allclose(F.standard_log_prob(z), p.log_prob(z).sum(-1), atol=1e-5)


def test_moe_sampling_frequencies_are_uniform_over_present_experts():
    g = torch.Generator().manual_seed(1)
    n = 30000
    mask = torch.tensor([[True], [False], [True], [True]]).expand(4, n)
    mu = torch.arange(4.0)[:, None, None].expand(4, n, 1) * 10
    z, k = F.mixture_sample(mu, torch.full((4, n, 1), -20.0), mask, g)
    freq = torch.bincount(k, minlength=4).float() / n
    assert freq[1] == 0
    assert torch.allclose(freq[[0, 2, 3]], torch.full((3,), 1 / 3), atol=0.015)
    assert torch.allclose(z[:, 0], mu[k, torch.arange(n), 0], atol=1e-3)


def test_mixture_log_prob_is_the_mean_of_component_densities():
    mu, logvar = torch.randn(3, 2, 4), torch.randn(3, 2, 4)
    mask = torch.tensor([[True, True], [True, False], [False, True]])
    z = torch.randn(5, 2, 4)
    got = F.mixture_log_prob(z, mu, logvar, mask)
    for b in range(2):
        comps = [F.gaussian_log_prob(z[:, b], mu[k, b], logvar[k, b]).exp() for k in range(3) if mask[k, b]]
        assert torch.allclose(got[:, b], torch.log(sum(comps) / len(comps)), atol=1e-5)


def test_subsets_enumerates_every_non_empty_subset():
    s = F.subsets(3)
    assert s.shape == (7, 3) and s.any(1).all()
    assert len({tuple(r.tolist()) for r in s}) == 7


def test_random_subsets_are_uniform_and_inside_the_present_set():
    g = torch.Generator().manual_seed(2)
    n = 21000
    mask = torch.tensor([True, False, True, True])[:, None].expand(4, n)
    chosen = F.random_subsets(mask, g)
    assert not (chosen & ~mask).any() and chosen.any(0).all()
    codes = (chosen.long() * torch.tensor([1, 2, 4, 8])[:, None]).sum(0)
    counts = torch.bincount(codes, minlength=16).float()
    present = counts[counts > 0]
    assert len(present) == 7                       # the 7 non-empty subsets of {0, 2, 3}
    assert torch.allclose(present / n, torch.full((7,), 1 / 7), atol=0.012)


def test_reparameterise_temperature_zero_is_the_mean():
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    assert torch.equal(F.reparameterise(mu, logvar, temperature=0.0), mu)
    g = torch.Generator().manual_seed(0)
    z = F.reparameterise(torch.zeros(20000, 1), torch.full((20000, 1), math.log(4.0)), g)
    assert z.std().item() == pytest.approx(2.0, rel=0.03)


def test_diagonal_mixture_log_prob_matches_the_direct_sum():
    means, logvars = torch.randn(7, 5) * 2, torch.randn(7, 5) * 0.5
    z = torch.randn(4, 5) * 2
    got = F.diagonal_mixture_log_prob(z, means, logvars)
    direct = torch.logsumexp(F.gaussian_log_prob(z[:, None, :], means, logvars), dim=1) - math.log(7)
    assert torch.allclose(got, direct, atol=1e-4)
    log_w = torch.log_softmax(torch.randn(7), 0)
    weighted = torch.logsumexp(F.gaussian_log_prob(z[:, None, :], means, logvars) + log_w, dim=1)
    assert torch.allclose(F.diagonal_mixture_log_prob(z, means, logvars, log_w), weighted, atol=1e-4)


