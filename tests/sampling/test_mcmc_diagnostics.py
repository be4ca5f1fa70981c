import math

import torch

from synesthesia.sampling import MALA, build_sampler, run_chains
from synesthesia.sampling.adaptation import DualAveraging
from synesthesia.sampling.diagnostics import (
    autocovariance,
    effective_sample_size,
    integrated_autocorrelation_time,
    rank_normalize,
    rank_split_rhat,
    split_chains,
    split_rhat,
)
from synesthesia.sampling.targets import BimodalTarget, GaussianTarget


def _ar1(phi: float, steps: int, chains: int, dims: int, seed: int) -> torch.Tensor:
    """Stationary AR(1) chains (S, C, K) with unit innovations: autocorrelation phi^t, so the
    integrated autocorrelation time is (1 + phi) / (1 - phi)."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(steps, chains, dims, generator=g, dtype=torch.float64)
    x = torch.empty_like(noise)
    x[0] = noise[0] / math.sqrt(1 - phi ** 2)
    for t in range(1, steps):
        x[t] = phi * x[t - 1] + noise[t]
    return x


def test_autocovariance_matches_the_direct_sum():
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    xc = x - x.mean(0)
    direct = torch.stack([(xc[: 50 - t] * xc[t:]).sum(0) / 50 for t in range(50)])
    assert torch.allclose(autocovariance(x), direct, atol=1e-12)


def test_geyer_truncates_at_the_first_negative_pair_and_makes_pairs_monotone():
    rho = torch.tensor([1.0, 0.5, 0.1, 0.0, 0.2, 0.2, -0.5, -0.6, 0.9, 0.9])
    # pairs 1.5, 0.1, 0.4, -1.1, 1.8 -> kept 1.5, 0.1, 0.4 -> monotone 1.5, 0.1, 0.1
    assert torch.isclose(integrated_autocorrelation_time(rho), torch.tensor(-1.0 + 2 * 1.7))
    assert integrated_autocorrelation_time(torch.tensor([1.0, 0.0, 0.0, 0.0])) == 1.0


def test_ess_of_iid_draws_is_about_the_number_of_draws():
    """Geyer's estimator on iid draws: over seeds, ESS / N per coordinate has a spread of about
    6% (one sd), so each must lie within 25% and their mean of 10 within 7%."""
    x = torch.randn(2000, 4, 10, generator=torch.Generator().manual_seed(1))
    ratio = effective_sample_size(x) / 8000  # (10,)
    assert ((ratio > 0.75) & (ratio < 1.25)).all(), ratio
    assert abs(float(ratio.mean()) - 1.0) < 0.07


def test_ess_of_autocorrelated_chains_matches_the_closed_form():
    """AR(1): ESS = N (1 - phi) / (1 + phi), below N when phi > 0, above N when phi < 0."""
    for phi in (0.5, -0.3):
        x = _ar1(phi, steps=2000, chains=4, dims=6, seed=2)
        expected = 8000 * (1 - phi) / (1 + phi)
        ratio = effective_sample_size(x) / expected
        assert ((ratio > 0.8) & (ratio < 1.2)).all(), (phi, ratio)


def test_ess_drops_when_chains_disagree():
    """Chains with different means are one slowly mixing chain in disguise: pooling the
    autocorrelations over chains (with var_plus) must lower the ESS far below N."""
    x = torch.randn(500, 4, 2, generator=torch.Generator().manual_seed(3))
    x = x + torch.tensor([0.0, 0.0, 3.0, 3.0]).reshape(1, 4, 1)
    assert (effective_sample_size(x) < 200).all()


def test_split_rhat_is_one_on_iid_draws_and_large_on_shifted_chains():
    x = torch.randn(1000, 4, 3, generator=torch.Generator().manual_seed(4))
    assert (split_rhat(x) < 1.01).all() and (rank_split_rhat(x) < 1.01).all()
    shifted = x + torch.tensor([0.0, 0.0, 0.0, 2.0]).reshape(1, 4, 1)
    assert (split_rhat(shifted) > 1.1).all() and (rank_split_rhat(shifted) > 1.1).all()


def test_split_rhat_sees_chains_that_drift_alike():
    """Every chain drifts the same way: whole chains agree, their halves do not."""
    x = torch.randn(1000, 4, 2, generator=torch.Generator().manual_seed(8))
    x = x + torch.linspace(-2.0, 2.0, 1000).reshape(-1, 1, 1)
    assert (split_rhat(x) > 1.1).all() and (rank_split_rhat(x) > 1.1).all()
    assert (effective_sample_size(x) < 0.1 * 4000).all()


def test_rank_rhat_sees_chains_that_differ_only_in_scale():
    """Same mean, one chain 4x wider: the bulk R-hat misses it, the folded (tail) one does not."""
    x = torch.randn(1000, 4, 2, generator=torch.Generator().manual_seed(5))
    x[:, 0] *= 4.0
    assert (split_rhat(x) < 1.05).all()
    assert (rank_split_rhat(x) > 1.1).all()


def test_split_chains_and_rank_normalize_shapes_and_values():
    x = torch.arange(10.0).reshape(5, 2, 1)  # odd length: the middle draw is dropped
    assert torch.equal(split_chains(x)[:, :, 0], torch.tensor([[0.0, 1.0, 6.0, 7.0],
                                                               [2.0, 3.0, 8.0, 9.0]]))
    z = rank_normalize(x)
    assert torch.equal(z.flatten().argsort(), x.flatten().argsort())  # order kept
    assert torch.allclose(z.flatten(), -z.flatten().flip(0))  # symmetric normal scores


def test_rhat_near_one_after_convergence_and_large_before_it():
    """Chains on a 2-D Gaussian started 20 standard deviations apart: after 30 steps they have
    not met (R-hat > 1.1); after warm-up and 500 steps they agree (R-hat < 1.05)."""
    target = GaussianTarget(torch.zeros(1, 2), torch.tensor([[[1.0, 0.6], [0.6, 1.0]]]))
    z0 = torch.tensor([-10.0, 10.0]).repeat(4).reshape(8, 1, 1).expand(8, 1, 2).contiguous()
    g = torch.Generator().manual_seed(6)
    early = run_chains(MALA(step_size=0.5, adapt_step_size=False), target, z0, steps=30,
                       generator=g)
    assert (early.rhat > 1.1).all(), early.rhat
    late = run_chains(build_sampler("mala"), target, z0, steps=500, warmup=200, generator=g)
    assert (late.rhat < 1.05).all(), late.rhat


def test_rhat_flags_chains_stuck_in_different_modes():
    """Modes at +-4 in each of 2 coordinates are 11 standard deviations apart: chains started in
    different modes stay there, and R-hat sees it although each chain looks converged."""
    target = BimodalTarget(torch.full((1, 2), 4.0))
    z0 = torch.tensor([4.0, -4.0]).repeat(4).reshape(8, 1, 1).expand(8, 1, 2).contiguous()
    result = run_chains(build_sampler("hmc", n_leapfrog=5), target, z0, steps=300, warmup=100,
                        generator=torch.Generator().manual_seed(7))
    assert (result.rhat > 1.1).all(), result.rhat
    assert result.mean_acceptance > 0.5  # the chains move, within their own mode


def test_dual_averaging_finds_the_step_size_with_the_target_acceptance():
    """With a deterministic acceptance curve alpha(eps) = exp(-eps), the averaged step size must
    converge to the root of alpha(eps) = 0.65, i.e. eps = -log(0.65); each entry alone."""
    stats = DualAveraging.start(torch.tensor([0.01, 5.0]), target=0.65)
    step = torch.tensor([0.01, 5.0])
    for _ in range(2000):
        stats, step = stats.update(torch.exp(-step))
    assert torch.allclose(stats.final_step_size(), torch.full((2,), -math.log(0.65)), rtol=0.02)
