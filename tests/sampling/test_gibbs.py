"""Metropolis-within-Gibbs imputation on a linear-Gaussian 'VAE' with a closed-form answer.

Model: z ~ N(0, 1), x1 = A z + S1 e1, x2 = B z + S2 e2. Given x1, the missing x2 is
N(B m1, B^2 v1 + S2^2) with v1 = 1 / (1 + A^2 / S1^2) and m1 = v1 A x1 / S1^2.
The "encoder" is deliberately wrong (shrunk mean, inflated spread), so only the Metropolis
correction can make the imputations exact.
"""

import math

import pytest
import torch

from synesthesia.sampling import SamplingError, metropolis_within_gibbs
from synesthesia.sampling.diagnostics import monte_carlo_se

A, B, S1, S2 = 2.0, -1.5, 0.5, 0.7
X1 = torch.tensor([-1.5, 0.3, 2.0])  # three observations, one chain each per repeat
CHAINS = 300


def _normal_log_pdf(x, mean, std):
    std = torch.as_tensor(std)
    return -0.5 * ((x - mean) / std) ** 2 - std.log() - 0.5 * math.log(2 * math.pi)


def _posterior(x1, x2):
    """Exact q(z | x1, x2): mean and std, shapes (N, 1)."""
    precision = 1 + A ** 2 / S1 ** 2 + B ** 2 / S2 ** 2
    mean = (A * x1 / S1 ** 2 + B * x2 / S2 ** 2) / precision
    return mean, precision ** -0.5 * torch.ones_like(x1)


def _model(encoder_shrink=0.7, encoder_inflate=1.6, encoder_offset=0.1):
    def log_prior(z):  # (N, 1) -> (N,)
        return _normal_log_pdf(z, 0.0, 1.0).sum(-1)

    def log_likelihood(z, x1, x2):
        return (_normal_log_pdf(x1, A * z, S1) + _normal_log_pdf(x2, B * z, S2)).sum(-1)

    def encoder(x1, x2):
        mean, std = _posterior(x1, x2)
        return encoder_shrink * mean + encoder_offset, encoder_inflate * std

    def proposal_sample_and_log_q(x1, x2, generator):
        mean, std = encoder(x1, x2)
        z = mean + std * torch.randn(mean.shape, generator=generator)
        return z, _normal_log_pdf(z, mean, std).sum(-1)

    def proposal_log_q(z, x1, x2):
        mean, std = encoder(x1, x2)
        return _normal_log_pdf(z, mean, std).sum(-1)

    def sample_missing(z, generator):
        return B * z + S2 * torch.randn(z.shape, generator=generator)

    return log_prior, log_likelihood, proposal_sample_and_log_q, proposal_log_q, sample_missing


def _exact_conditional():
    v1 = 1.0 / (1.0 + A ** 2 / S1 ** 2)
    return B * v1 * A * X1 / S1 ** 2, torch.full_like(X1, B ** 2 * v1 + S2 ** 2)  # (3,), (3,)


def _impute(seed, **encoder):
    x1 = X1.repeat(CHAINS).reshape(-1, 1)  # (CHAINS * 3, 1): chain c of observation b at 3c + b
    return metropolis_within_gibbs(x1, torch.zeros_like(x1), *_model(**encoder), steps=150,
                                   warmup=30, generator=torch.Generator().manual_seed(seed))


def test_imputations_follow_the_exact_conditional():
    result = _impute(0)
    x2 = result.x_mis.reshape(150, CHAINS, 3)  # (S, C, B)
    mean, var = _exact_conditional()
    f = (x2 - mean) ** 2
    # 4 Monte Carlo standard errors, with ESS pooled over chains (see test_samplers.py)
    assert ((x2.mean((0, 1)) - mean).abs() <= 4 * monte_carlo_se(x2)).all()
    assert ((f.mean((0, 1)) - var).abs() <= 4 * monte_carlo_se(f)).all()
    assert (monte_carlo_se(f) / var < 0.05).all()
    assert 0.2 < result.mean_acceptance < 0.95  # the wrong encoder is corrected, not ignored
    assert result.z.shape == (150, CHAINS * 3, 1) and result.acceptance.shape == (CHAINS * 3,)


def test_the_encoder_alone_would_be_wrong():
    """Sensitivity check for the test above: pseudo-Gibbs (always take the encoder's draw)
    with the same wrong encoder gives a variance far outside its tolerance."""
    _, _, propose, _, sample_missing = _model()
    g = torch.Generator().manual_seed(1)
    x1 = X1.repeat(CHAINS).reshape(-1, 1)
    x2, kept = torch.zeros_like(x1), []
    for t in range(180):
        z, _ = propose(x1, x2, g)
        x2 = sample_missing(z, g)
        if t >= 30:
            kept.append(x2)
    x2 = torch.stack(kept).reshape(150, CHAINS, 3)
    mean, var = _exact_conditional()
    f = (x2 - mean) ** 2
    assert ((f.mean((0, 1)) - var).abs() > 8 * monte_carlo_se(f)).any()


def test_an_exact_encoder_is_always_accepted():
    """With q equal to the true posterior, w(z) = p(x) is constant: acceptance is exactly 1."""
    exact = _impute(2, encoder_shrink=1.0, encoder_inflate=1.0, encoder_offset=0.0)
    assert torch.allclose(exact.acceptance, torch.ones(len(X1) * CHAINS), atol=1e-4)
    assert _impute(2, encoder_shrink=1.0, encoder_inflate=1.0).mean_acceptance < 0.99


def test_wrong_log_density_shape_fails_clearly():
    log_prior, log_lik, propose, log_q, sample_missing = _model()
    x1 = X1.reshape(-1, 1)
    with pytest.raises(SamplingError, match="must each return shape"):
        metropolis_within_gibbs(x1, torch.zeros_like(x1), lambda z: log_prior(z).sum(), log_lik,
                                propose, log_q, sample_missing, steps=2)
