"""Convergence diagnostics for MCMC draws: small pure functions on tensors.

Draws have shape (S, C, ...): S draws of C chains, any trailing shape (e.g. targets x dims), and
every function reduces the first two axes away, computing in float64. References:

* Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), "Rank-normalization, folding, and
  localization: an improved R-hat for assessing convergence of MCMC", Bayesian Analysis 16(2):
  split-R-hat, rank normalisation, folding, and the multi-chain ESS.
* Geyer (1992), "Practical Markov chain Monte Carlo", Statistical Science 7(4): the initial
  monotone sequence estimator of the autocorrelation time.
* Gelman & Rubin (1992); Gelman et al. (2013), "Bayesian Data Analysis", 3rd ed., ch. 11.
"""

from __future__ import annotations

import math

import torch


def autocovariance(x: torch.Tensor) -> torch.Tensor:
    """The autocovariance of each chain along axis 0, by FFT: (S, ...) -> (S, ...).

    Entry t is ``1/S sum_s (x_s - mean)(x_{s+t} - mean)`` (the biased estimator, as in Stan),
    computed with zero-padding to avoid circular wrap-around.
    """
    n = x.shape[0]
    x = x.double() - x.double().mean(0)
    n_fft = 1 << (2 * n - 1).bit_length()  # a power of two >= 2n - 1
    spectrum = torch.fft.rfft(x, n=n_fft, dim=0)
    acov = torch.fft.irfft(spectrum * spectrum.conj(), n=n_fft, dim=0)[:n]
    return acov / n


def split_chains(x: torch.Tensor) -> torch.Tensor:
    """Cut each chain in two halves: (S, C, ...) -> (S // 2, 2C, ...); an odd middle draw is
    dropped. Split chains reveal a chain that is still drifting (Vehtari et al., 2021)."""
    half = x.shape[0] // 2
    return torch.cat([x[:half], x[x.shape[0] - half:]], dim=1)


def rank_normalize(x: torch.Tensor) -> torch.Tensor:
    """Replace draws (S, C, ...) by normal scores of their ranks pooled over all chains:
    ``Phi^-1((r - 3/8) / (S C + 1/4))`` (Vehtari et al., 2021, eq. 14)."""
    flat = x.double().reshape(-1, *x.shape[2:])  # (S C, ...)
    order = flat.argsort(0)
    ones_to_n = torch.arange(1, flat.shape[0] + 1, dtype=flat.dtype, device=flat.device)
    ranks = torch.empty_like(flat).scatter_(  # 1-based rank of every draw
        0, order, ones_to_n.reshape(-1, *[1] * (flat.dim() - 1)).expand_as(flat))
    scores = torch.special.ndtri((ranks - 0.375) / (flat.shape[0] + 0.25))
    return scores.reshape(x.shape)


def fold(x: torch.Tensor) -> torch.Tensor:
    """Absolute deviations from the pooled median, (S, C, ...) -> (S, C, ...): R-hat of the
    folded draws detects chains that differ in spread or tails rather than location."""
    flat = x.double().reshape(-1, *x.shape[2:])
    return (x.double() - flat.median(0).values).abs()


def split_rhat(x: torch.Tensor) -> torch.Tensor:
    """Split potential scale reduction factor of draws (S, C, ...) -> (...).

    ``sqrt(var_plus / W)`` on the split chains, with W the mean within-chain variance and
    ``var_plus = (N - 1)/N W + B/N`` (Gelman et al., 2013). Near 1 when chains agree; Vehtari
    et al. (2021) recommend trusting draws only below 1.01 (1.05 for quick checks). NaN when
    every chain is constant.
    """
    x = split_chains(x.double())  # (N, M, ...)
    n = x.shape[0]
    within = x.var(0, correction=1).mean(0)  # W
    between_over_n = x.mean(0).var(0, correction=1)  # B / N
    var_plus = (n - 1) / n * within + between_over_n
    return torch.sqrt(var_plus / within)


def rank_split_rhat(x: torch.Tensor) -> torch.Tensor:
    """The rank-normalised split-R-hat of Vehtari et al. (2021): the larger of the bulk R-hat
    (rank-normalised draws) and the tail R-hat (rank-normalised folded draws); (S, C, ...) ->
    (...). Robust to heavy tails and sensitive to differences in scale between chains."""
    return torch.maximum(split_rhat(rank_normalize(x)), split_rhat(rank_normalize(fold(x))))


def integrated_autocorrelation_time(rho: torch.Tensor) -> torch.Tensor:
    """Geyer's (1992) initial monotone sequence estimate of ``tau = 1 + 2 sum_{t>0} rho_t``
    from autocorrelations rho (N, ...) with rho_0 = 1; returns (...).

    Pair sums ``P_k = rho_2k + rho_2k+1`` are positive for a reversible chain; the estimate
    keeps them up to the first negative one (where noise takes over), makes them
    non-increasing, and returns ``-1 + 2 sum_k P_k``.
    """
    n_pairs = rho.shape[0] // 2
    pairs = rho[0:2 * n_pairs:2] + rho[1:2 * n_pairs:2]  # (N // 2, ...) P_k
    positive = torch.cumprod((pairs >= 0).to(rho.dtype), dim=0)  # 1 up to the first negative
    monotone = torch.cummin(pairs, dim=0).values
    return -1.0 + 2.0 * (monotone * positive).sum(0)


def effective_sample_size(x: torch.Tensor, split: bool = True) -> torch.Tensor:
    """Multi-chain effective sample size of draws (S, C, ...) -> (...).

    Autocorrelations are pooled over chains as in Stan (Vehtari et al., 2021, eq. 10)::

        rho_t = 1 - (W - mean_c acov_c(t)) / var_plus

    so chains that disagree lower the ESS, and summed by
    :func:`integrated_autocorrelation_time`: ``ESS = S C / tau``, capped at ``S C log10(S C)`` as
    in Stan. With ``split`` (the default) chains are first cut in halves, so drifting chains
    lower the ESS too. iid draws give about S C. NaN when every chain is constant.
    """
    x = split_chains(x.double()) if split else x.double()
    n, m = x.shape[0], x.shape[1]
    acov = autocovariance(x)  # (N, M, ...)
    within = acov[0].mean(0) * n / (n - 1)  # W: mean within-chain variance
    between_over_n = x.mean(0).var(0, correction=1) if m > 1 else torch.zeros_like(within)
    var_plus = (n - 1) / n * within + between_over_n
    rho = 1.0 - (within - acov.mean(1)) / var_plus  # (N, ...)
    rho[0] = 1.0
    total = n * m
    tau = integrated_autocorrelation_time(rho).clamp(min=1.0 / math.log10(total))
    return torch.where(var_plus > 0, total / tau, torch.full_like(tau, math.nan))


def monte_carlo_se(x: torch.Tensor) -> torch.Tensor:
    """Monte Carlo standard error of the mean of draws (S, C, ...) -> (...):
    ``sd / sqrt(ESS)``, the uncertainty of a posterior-mean estimate due to finite sampling."""
    sd = x.double().reshape(-1, *x.shape[2:]).std(0)
    return sd / effective_sample_size(x).sqrt()
