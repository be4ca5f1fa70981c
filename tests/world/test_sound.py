import numpy as np
import pytest

from synesthesia.world import ATTRIBUTES
from synesthesia.world.rng import BatchRandom
from synesthesia.world.sound import note_frequencies, render_sounds


def _codes(n, seed=0):
    g = np.random.default_rng(seed)
    return {a: g.integers(0, len(v), n) for a, v in ATTRIBUTES.items()}


@pytest.mark.parametrize("rate", [8000, 16000])
def test_shape_range_and_determinism(rate):
    codes = _codes(40)
    a = render_sounds(codes, BatchRandom(1, 0, np.arange(40)), rate, 1.0)
    b = render_sounds(codes, BatchRandom(1, 0, np.arange(40)), rate, 1.0)
    assert a.shape == (40, rate) and a.dtype == np.float32
    assert np.abs(a).max() <= 1.0 and np.abs(a).max() > 0.3
    assert a.tobytes() == b.tobytes()
    sub = {k: v[[5]] for k, v in codes.items()}
    alone = render_sounds(sub, BatchRandom(1, 0, np.array([5])), rate, 1.0)
    assert np.array_equal(alone[0], a[5])


def test_pitch_follows_colour():
    n = 8
    codes = {a: np.zeros(n, dtype=np.int64) for a in ATTRIBUTES}
    codes["colour"] = np.arange(8)
    codes["size"][:] = 2
    codes["position"][:] = 3                       # one long note, no tremolo
    waves = render_sounds(codes, BatchRandom(0, 0, np.arange(n)), 8000, 1.0)
    spec = np.abs(np.fft.rfft(waves, axis=1))
    peak_hz = np.fft.rfftfreq(8000, 1 / 8000)[spec.argmax(axis=1)]
    assert np.allclose(peak_hz, note_frequencies(), rtol=0.02)


def _features(waves: np.ndarray) -> np.ndarray:
    """Log spectrum averaged over time, the loudness envelope and its modulation spectrum."""
    frame, hop = 256, 128
    count = 1 + (waves.shape[1] - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(count)[:, None]
    frames = waves[:, idx] * np.hanning(frame)                          # (N, F, frame)
    mag = np.abs(np.fft.rfft(frames, axis=2))                           # (N, F, bins)
    logmag = np.log(mag + 1e-4)
    energy = np.log(mag.sum(axis=2) + 1e-4)                             # (N, F)
    loud = mag.max(axis=(1, 2))[:, None]
    mod = np.abs(np.fft.rfft(mag.sum(axis=2) / (loud + 1e-9), axis=1))[:, 1:20]
    peak_norm = np.log(mag / (loud[:, :, None] + 1e-9) + 1e-4).max(axis=1)
    return np.concatenate([logmag.mean(1), logmag.max(1), peak_norm, energy, mod,
                           np.log(loud + 1e-6)], axis=1)


@pytest.mark.slow
def test_every_attribute_is_recoverable():
    n, n_fit = 3000, 2400
    codes = _codes(n, 3)
    waves = render_sounds(codes, BatchRandom(2, 0, np.arange(n)), 8000, 1.0)
    x = _features(waves)
    mu, sd = x[:n_fit].mean(0), x[:n_fit].std(0) + 1e-6
    x = np.concatenate([(x - mu) / sd, np.ones((n, 1))], axis=1)

    def fit_predict(feats, y, k):
        onehot = np.eye(k)[y[:n_fit]]
        w = np.linalg.solve(feats[:n_fit].T @ feats[:n_fit] + np.eye(feats.shape[1]), feats[:n_fit].T @ onehot)
        return np.argmax(feats @ w, 1)

    pred = {name: fit_predict(x, codes[name], len(ATTRIBUTES[name]))
            for name in ("colour", "position", "background")}
    # loudness is ordinal: give the linear read-out its square too
    loud = x[:, -2:-1]
    pred["size"] = fit_predict(np.concatenate([x, loud ** 2], 1), codes["size"], 3)
    # timbre is read relative to the (already recovered) pitch: harmonic levels at k * f0
    spec = np.abs(np.fft.rfft(waves, axis=1))
    f0 = note_frequencies()[pred["colour"]]
    harm = np.stack([spec[np.arange(n)[:, None], np.round(k * f0[:, None] * [0.98, 1.0, 1.02]).astype(int)].max(1)
                     for k in range(1, 7)], 1)
    harm = np.log(harm / harm.max(1, keepdims=True) + 1e-3)
    pred["shape"] = fit_predict(np.concatenate([x, harm], 1), codes["shape"], 6)
    acc = {name: float((p[n_fit:] == codes[name][n_fit:]).mean()) for name, p in pred.items()}
    assert all(v >= 0.95 for v in acc.values()), acc
