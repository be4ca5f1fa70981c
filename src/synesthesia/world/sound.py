"""Sonification of the shapes world: one mono clip per sample, from the same attributes.

=============  ==============================================================================
attribute      what you hear
=============  ==============================================================================
shape          timbre: the harmonic recipe of a band-limited wavetable (6 harmonics)
colour         pitch: 8 notes three semitones apart, 150-504 Hz (+-1 % detune per sample)
size           loudness: peak amplitude 0.12 / 0.30 / 0.75 (about 8 dB apart)
position row   number of notes in the clip: top 1, middle 2, bottom 3
position col   tremolo: left none, centre 5 Hz, right 11 Hz
background     a quiet bed in its own band: plain silence, stripes regular 3.6 kHz clicks
               (8/s), checker clicks alternating 3.6 / 2.7 kHz, noise a 3.3-3.9 kHz hiss,
               gradient a low drone sweeping 70 -> 120 Hz
motion         not sonified (the sound describes the scene, the video its motion)
=============  ==============================================================================

Per-sample variation: detune, start phase, note timing (+-12 ms), click phase and hiss texture.
Everything is vectorised over the batch with numpy; randomness comes from BatchRandom.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import numpy as np

from synesthesia.world.rng import BatchRandom

NOTE_BASE_HZ = 150.0
NOTE_STEP_SEMITONES = 3
SIZE_AMPLITUDE = np.array([0.12, 0.30, 0.75], dtype=np.float32)
TREMOLO_HZ = np.array([0.0, 5.0, 11.0], dtype=np.float32)
TREMOLO_DEPTH = 0.6
BED_AMPLITUDE = 0.06
TABLE_SIZE = 2048
# harmonic amplitudes per shape (circle, square, triangle, star, heart, cross)
HARMONICS = np.array([
    [1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [1.0, 0.0, 0.6, 0.0, 0.4, 0.0],
    [1.0, 0.6, 0.0, 0.0, 0.0, 0.0],
    [1.0, 0.6, 0.5, 0.4, 0.3, 0.25],
    [1.0, 0.0, 0.0, 0.7, 0.0, 0.0],
    [0.5, 0.0, 0.0, 0.0, 0.0, 1.0],
], dtype=np.float64)


def _wavetables() -> np.ndarray:
    """(6, TABLE_SIZE) single-cycle waveforms, peak-normalised."""
    phase = np.arange(TABLE_SIZE) / TABLE_SIZE
    h = np.arange(1, HARMONICS.shape[1] + 1)
    tables = HARMONICS @ np.sin(2 * np.pi * h[:, None] * phase[None, :])
    return (tables / np.abs(tables).max(axis=1, keepdims=True)).astype(np.float32)


_TABLES = _wavetables()


def note_frequencies() -> np.ndarray:
    return NOTE_BASE_HZ * 2.0 ** (np.arange(8) * NOTE_STEP_SEMITONES / 12.0)


@lru_cache(maxsize=16)
def _envelopes(sample_rate: int, length: int, pad: int) -> np.ndarray:
    """(3, pad + length + pad) envelopes of 1, 2 and 3 notes per clip; each note fills 80 % of
    its slot with a 10 ms attack and a 40 ms release."""
    seconds = length / sample_rate
    t = (np.arange(-pad, length + pad) / sample_rate)[None, :]
    slot = seconds / np.arange(1, 4)[:, None]
    pos = np.mod(t, slot)
    env = np.minimum(np.clip(pos / 0.010, 0, 1), np.clip((0.8 * slot - pos) / 0.040, 0, 1))
    env[:, (t[0] < 0) | (t[0] >= seconds)] = 0.0
    return env.astype(np.float32)


@lru_cache(maxsize=16)
def _tremolos(sample_rate: int, length: int) -> np.ndarray:
    t = np.arange(length) / sample_rate
    trem = 1.0 - TREMOLO_DEPTH * 0.5 * (1 - np.cos(2 * np.pi * TREMOLO_HZ[:, None] * t[None, :]))
    return trem.astype(np.float32)                                          # (3, L)


def _bed(background: np.ndarray, rng: BatchRandom, t: np.ndarray, sample_rate: int) -> np.ndarray:
    n, length = len(background), len(t)
    bed = np.zeros((n, length), dtype=np.float32)
    u = rng.uniform("sound.bed", 2)
    period = 1.0 / 8.0
    for code in range(1, 5):
        rows = np.nonzero(background == code)[0]
        if len(rows) == 0:
            continue
        if code in (1, 2):                                                  # stripes, checker
            shifted = t[None, :] + u[rows, :1] * period
            local = np.mod(shifted, period)
            env = np.exp(-local / 0.004)
            freq = np.full((len(rows), length), 3600.0)
            if code == 2:
                odd = np.floor(shifted / period) % 2 == 1
                freq = np.where(odd, 2700.0, 3600.0)
            bed[rows] = (env * np.sin(2 * np.pi * freq * local)).astype(np.float32)
        elif code == 3:                                                     # band-limited hiss
            bins = np.fft.rfftfreq(length, 1.0 / sample_rate)
            band = np.nonzero((bins >= 3300) & (bins <= min(3900, 0.49 * sample_rate)))[0]
            phases = rng.subset(rows).uniform("sound.hiss", len(band)) * 2 * np.pi
            spec = np.zeros((len(rows), len(bins)), dtype=np.complex64)
            spec[:, band] = np.exp(1j * phases)
            hiss = np.fft.irfft(spec, n=length, axis=1)
            bed[rows] = (hiss / (np.abs(hiss).max(axis=1, keepdims=True) + 1e-9)).astype(np.float32)
        elif code == 4:                                                     # rising drone
            f = 70.0 + 50.0 * t / t[-1]
            phase = 2 * np.pi * np.cumsum(f) / sample_rate
            bed[rows] = np.sin(phase[None, :] + u[rows, 1:] * 2 * np.pi).astype(np.float32)
    return bed


def render_sounds(codes: Mapping[str, np.ndarray], rng: BatchRandom, sample_rate: int = 8000,
                  seconds: float = 1.0) -> np.ndarray:
    """Clips float32 (N, round(sample_rate * seconds)) in [-1, 1]."""
    length = int(round(sample_rate * seconds))
    t = (np.arange(length) / sample_rate).astype(np.float32)
    u = rng.uniform("sound.main", 3)
    f0 = note_frequencies()[codes["colour"]] * (1.0 + 0.02 * (u[:, 0] - 0.5))          # (N,)
    cycles = (f0 * TABLE_SIZE).astype(np.float32)[:, None] * t[None, :] + (u[:, 1:2] * TABLE_SIZE)
    tone = _TABLES[codes["shape"][:, None], cycles.astype(np.int64) % TABLE_SIZE]          # (N, L)
    row, col = codes["position"] // 3, codes["position"] % 3
    pad = int(0.012 * sample_rate)
    shift = pad - np.round((u[:, 2] - 0.5) * 2 * pad).astype(np.int64)                     # (N,)
    env = _envelopes(sample_rate, length, pad)[row[:, None], shift[:, None] + np.arange(length)]
    main = tone * env * _tremolos(sample_rate, length)[col]
    main *= SIZE_AMPLITUDE[codes["size"]][:, None]
    return (main + BED_AMPLITUDE * _bed(codes["background"], rng, t, sample_rate)).astype(np.float32)
