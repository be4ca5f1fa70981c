"""Sound processing on torch: STFT, mel filterbank, log-mel and back (Griffin-Lim), resampling.

The log-mel scale used by the audio modality: power of the STFT normalised so that a sine of
amplitude ``a`` peaks at ``a**2``, projected on a triangular mel filterbank (HTK mel formula),
in decibels floored at ``FLOOR_DB`` and mapped linearly to about [-1, 1].
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

FLOOR_DB = -100.0
DB_CENTRE, DB_SCALE = -50.0, 50.0


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 40.0,
                   fmax: float | None = None) -> torch.Tensor:
    """Triangular filters (n_mels, n_fft // 2 + 1), each of unit area over FFT bins.

    Filters narrower than an FFT bin are widened to cover at least the nearest bin, so no band
    is empty."""
    fmax = fmax or sample_rate / 2
    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]
    width = sample_rate / n_fft
    lo, hi = np.minimum(lo, mid - width), np.maximum(hi, mid + width)
    up = (bins[None, :] - lo[:, None]) / (mid - lo)[:, None]
    down = (hi[:, None] - bins[None, :]) / (hi - mid)[:, None]
    fb = np.clip(np.minimum(up, down), 0.0, None)
    fb /= fb.sum(axis=1, keepdims=True)
    return torch.from_numpy(fb.astype(np.float32))


def _window(n_fft: int, device=None) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True, device=device)


def stft(wave: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """Complex STFT (B, n_fft//2+1, frames) scaled so a sine of amplitude a peaks at about a."""
    w = _window(n_fft, wave.device)
    spec = torch.stft(wave, n_fft, hop, window=w, center=True, return_complex=True)
    return spec / (w.sum() / 2)


def istft(spec: torch.Tensor, n_fft: int, hop: int, length: int) -> torch.Tensor:
    w = _window(n_fft, spec.device)
    return torch.istft(spec * (w.sum() / 2), n_fft, hop, window=w, center=True, length=length)


def log_mel(wave: torch.Tensor, sample_rate: int, n_fft: int, hop: int, n_mels: int,
            frames: int) -> torch.Tensor:
    """Waveforms (B, L) -> normalised log-mel (B, n_mels, frames)."""
    power = stft(wave, n_fft, hop).abs().square()[..., :frames]              # (B, F, T)
    mel = mel_filterbank(sample_rate, n_fft, n_mels).to(wave.device) @ power  # (B, M, T)
    return db_to_log_mel(10.0 * torch.log10(mel.clamp_min(10 ** (FLOOR_DB / 10))))


def db_to_log_mel(db):
    """Decibels -> the normalised log-mel value (``FLOOR_DB`` is -1, 0 dB is 1)."""
    return (db - DB_CENTRE) / DB_SCALE


def mel_to_magnitude(x: torch.Tensor, sample_rate: int, n_fft: int, n_mels: int,
                     iterations: int = 50) -> torch.Tensor:
    """Normalised log-mel (B, M, T) -> linear STFT magnitude (B, F, T).

    Solves ``min ||fb @ P - mel||^2`` over non-negative power spectra P with Lee & Seung's
    multiplicative updates (2001), started from the back-projection ``fb.T @ mel``; unlike the
    clipped pseudo-inverse this keeps quiet bands quiet."""
    mel = 10.0 ** ((x * DB_SCALE + DB_CENTRE).clamp(max=20.0) / 10.0)
    fb = mel_filterbank(sample_rate, n_fft, n_mels).to(x.device)
    target = fb.T @ mel                                                      # (B, F, T)
    power = target.clamp_min(1e-12)
    for _ in range(iterations):
        power = power * target / (fb.T @ (fb @ power) + 1e-20)
    return power.sqrt()


def griffin_lim(magnitude: torch.Tensor, n_fft: int, hop: int, length: int, iterations: int = 32,
                momentum: float = 0.99, generator: torch.Generator | None = None) -> torch.Tensor:
    """Waveforms (B, length) whose STFT magnitude approaches ``magnitude`` (B, F, T).

    Fast Griffin-Lim (Perraudin, Balazs & Sondergaard, 2013): alternate projections with an
    inertia term on the phase estimate."""
    b, f, t = magnitude.shape
    full_t = 1 + length // hop
    if t < full_t:                                   # frames cropped by the codec: repeat the last
        magnitude = torch.cat([magnitude, magnitude[..., -1:].expand(b, f, full_t - t)], dim=2)
    phase = torch.rand(magnitude.shape, generator=generator, device=magnitude.device) * 2 * math.pi
    angles = torch.polar(torch.ones_like(magnitude), phase)
    previous = torch.zeros_like(angles)
    for _ in range(iterations):
        wave = istft(magnitude * angles, n_fft, hop, length)
        rebuilt = stft(wave, n_fft, hop)
        angles = rebuilt - (momentum / (1 + momentum)) * previous
        angles = angles / angles.abs().clamp_min(1e-8)
        previous = rebuilt
    return istft(magnitude * angles, n_fft, hop, length)


def resample(wave: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling of a mono waveform by FFT (zero-padding or truncating the
    spectrum)."""
    if source_rate == target_rate:
        return wave
    n_out = int(round(len(wave) * target_rate / source_rate))
    spec = np.fft.rfft(wave)
    keep = min(len(spec), n_out // 2 + 1)
    out_spec = np.zeros(n_out // 2 + 1, dtype=np.complex128)
    out_spec[:keep] = spec[:keep]
    return (np.fft.irfft(out_spec, n=n_out) * (n_out / len(wave))).astype(np.float32)
