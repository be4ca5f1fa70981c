"""Sound: mono clips modelled as normalised log-mel spectrograms ``(n_mels, frames)``.

A raw sound is ``(waveform, sample_rate)`` (or a file path: WAV, FLAC, OGG, MP3 where libsndfile
reads it). Input policy, each step warned once per batch (:class:`InputAdjusted`):

* a file is checked from its header against the limits (duration, channels, rate) and only the
  part kept is read; NaN or infinite samples and rates outside the limits are errors;
* several channels are averaged to mono (a ``(channels, samples)`` array with fewer rows than
  columns and at most ``limits.audio_channels`` rows is read that way round);
* a longer clip is cut to ``seconds``: its first ``seconds`` (``cut="start"``, default) or its
  middle (``cut="centre"``); a shorter one is padded with silence at the end (``start``) or on
  both sides (``centre``);
* another sample rate is resampled (band-limited, by FFT) after cutting.

Decoding turns the spectrogram back into a waveform with fast Griffin-Lim.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from synesthesia.modalities import dsp
from synesthesia.limits import get_limits
from synesthesia.modalities.base import Modality, ModalityError
from synesthesia.modalities.files import write_wav
from synesthesia.modalities.media import Notes, batch_notes
from synesthesia.modalities.sound_io import CUTS, check_channels, check_finite, check_rate, read_sound
from synesthesia.modalities.likelihoods import gaussian_log_prob
from synesthesia.modalities.nets import ConvDecoder, ConvEncoder, stage_count


class AudioModality(Modality):
    """Log-mel spectrograms with a Gaussian likelihood of fixed ``scale``."""

    name = "audio"

    def __init__(self, sample_rate: int = 8000, seconds: float = 1.0, n_fft: int = 512, n_mels: int = 64,
                 frames: int = 64, channels: int = 128, feature_dim: int = 256, scale: float = 0.1,
                 weight: float | None = None, griffin_lim_iterations: int = 32, residual: bool = False,
                 cut: str = "start") -> None:
        try:
            stage_count(frames)
        except ValueError:
            raise ModalityError(f"audio frames must be 4 times a power of two (32, 64, 128); got {frames}")
        self.sample_rate, self.seconds, self.n_fft, self.n_mels = sample_rate, seconds, n_fft, n_mels
        self.frames, self.channels, self.feature_dim = frames, channels, feature_dim
        self.scale, self.weight, self.griffin_lim_iterations = scale, weight, griffin_lim_iterations
        self.residual = residual
        if cut not in CUTS:
            raise ModalityError(f"audio cut must be one of {', '.join(CUTS)}; got {cut!r}")
        self.cut = cut
        self.length = int(round(sample_rate * seconds))
        self.hop = self.length // frames
        if self.hop < 1 or self.n_fft < self.hop:
            raise ModalityError(f"{frames} frames do not fit {self.length} samples with n_fft {n_fft}")

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n_mels, self.frames)

    # -- codec -------------------------------------------------------------------------------
    def waveform(self, raw: Any, notes: Notes | None = None) -> np.ndarray:
        """A raw sound -> float32 mono (length,) at the modality's rate, by the input policy."""
        notes = notes or Notes("sound", 1)
        if isinstance(raw, (str, Path)):
            wave, rate, info = read_sound(raw, self.seconds, self.cut)
            if info.frames > len(wave):
                notes.add(f"cut to {self.seconds:g} s ({'its middle' if self.cut == 'centre' else 'the first'})",
                          f"{info.seconds:.3f} s")
        elif isinstance(raw, tuple) and len(raw) == 2:
            wave, rate = np.asarray(raw[0], dtype=np.float32), check_rate(raw[1], "a sound")
            if wave.ndim == 2 and wave.shape[0] < wave.shape[1] and wave.shape[0] <= get_limits().audio_channels:
                notes.add("(channels, samples) array read as such", f"shape {wave.shape}")
                wave = wave.T
            check_finite(wave, "a sound")
        else:
            raise ModalityError("a sound must be a file path or a (waveform, sample_rate) tuple; got "
                                f"{type(raw).__name__}")
        if wave.ndim == 2:
            check_channels(wave.shape[1], "a sound")
            if wave.shape[1] > 1:
                notes.add("channels averaged to mono", f"{wave.shape[1]} channels")
            wave = wave.mean(axis=1)
        if wave.ndim != 1 or len(wave) == 0:
            raise ModalityError(f"a waveform must be a non-empty (samples,) or (samples, channels) array; "
                                f"got shape {wave.shape}")
        return self._fit_length(wave, rate, notes)

    def _fit_length(self, wave: np.ndarray, rate: int, notes: Notes) -> np.ndarray:
        """Cut or pad to ``seconds`` at the source rate, then resample to the modality's rate."""
        keep = int(round(self.seconds * rate))
        if len(wave) > keep:
            notes.add(f"cut to {self.seconds:g} s ({'its middle' if self.cut == 'centre' else 'the first'})",
                      f"{len(wave) / rate:.3f} s")
            lo = (len(wave) - keep) // 2 if self.cut == "centre" else 0
            wave = wave[lo:lo + keep]
        elif len(wave) < keep:
            notes.add(f"padded with silence to {self.seconds:g} s", f"{len(wave) / rate:.3f} s")
            before = (keep - len(wave)) // 2 if self.cut == "centre" else 0
            wave = np.pad(wave, (before, keep - len(wave) - before))
        if rate != self.sample_rate:
            notes.add(f"resampled to {self.sample_rate} Hz", f"{rate} Hz")
            wave = dsp.resample(wave, rate, self.sample_rate)
        if len(wave) != self.length:                       # rounding of the two rates: a sample or two
            wave = np.pad(wave[:self.length], (0, max(0, self.length - len(wave))))
        return wave.astype(np.float32, copy=False)

    def encode(self, raws: Sequence[Any]) -> torch.Tensor:
        with batch_notes("sound", len(raws)) as notes:
            waves = []
            for r in raws:
                notes.next_item()
                waves.append(self.waveform(r, notes))
        waves = torch.from_numpy(np.stack(waves))                                   # (B, L)
        return dsp.log_mel(waves, self.sample_rate, self.n_fft, self.hop, self.n_mels, self.frames)

    def decode_batch(self, x: torch.Tensor, generator: torch.Generator | None = None,
                     chunk: int = 50) -> np.ndarray:
        """Spectrograms -> float32 waveforms (B, length) by fast Griffin-Lim, ``chunk`` clips at a
        time (large STFT batches spend their time allocating memory). Seeded: the same
        spectrogram always gives the same waveform unless a generator is passed."""
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        waves = []
        for lo in range(0, len(x), chunk):
            mag = dsp.mel_to_magnitude(x[lo:lo + chunk].float(), self.sample_rate, self.n_fft, self.n_mels)
            waves.append(dsp.griffin_lim(mag, self.n_fft, self.hop, self.length, self.griffin_lim_iterations,
                                         generator=generator))
        return torch.cat(waves).clamp(-1, 1).cpu().numpy().astype(np.float32)

    def decode(self, x: torch.Tensor, generator: torch.Generator | None = None) -> list[tuple[np.ndarray, int]]:
        return [(w, self.sample_rate) for w in self.decode_batch(x, generator)]

    # -- networks ----------------------------------------------------------------------------
    def build_encoder(self) -> nn.Module:
        return ConvEncoder(1, self.n_mels, (self.frames,), stage_count(self.frames), self.channels,
                           self.feature_dim, residual=self.residual)

    def build_decoder(self, latent_dim: int) -> nn.Module:
        return ConvDecoder(1, latent_dim, self.n_mels, (self.frames,), stage_count(self.frames),
                           self.channels, residual=self.residual)

    def log_likelihood(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(params, x, self.scale)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return params

    # -- files -------------------------------------------------------------------------------
    def read(self, path: str | Path) -> tuple[np.ndarray, int]:
        """The part of the file the model keeps (``seconds``, by ``cut``) at the file's rate."""
        wave, rate, _ = read_sound(path, self.seconds, self.cut)
        return wave, rate

    def write(self, raw: tuple[np.ndarray, int], path: str | Path) -> Path:
        wave, rate = raw
        return write_wav(wave, rate, path)

    def config(self) -> dict:
        return {"sample_rate": self.sample_rate, "seconds": self.seconds, "n_fft": self.n_fft,
                "n_mels": self.n_mels, "frames": self.frames, "channels": self.channels,
                "feature_dim": self.feature_dim, "scale": self.scale, "weight": self.weight,
                "griffin_lim_iterations": self.griffin_lim_iterations, "residual": self.residual,
                "cut": self.cut}
