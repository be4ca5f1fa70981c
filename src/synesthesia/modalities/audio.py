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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from synesthesia.config import Section
from synesthesia.limits import get_limits
from synesthesia.modalities import dsp
from synesthesia.modalities.base import Modality, ModalityError
from synesthesia.modalities.files import write_wav
from synesthesia.modalities.likelihoods import gaussian_log_prob
from synesthesia.modalities.media import Notes, batch_notes
from synesthesia.modalities.nets import ConvDecoder, ConvEncoder, stage_count
from synesthesia.modalities.sound_io import CUTS, check_channels, check_finite, check_rate, read_sound


@dataclass
class AudioConfig(Section):
    sample_rate: int | None = None     # samples per second (default: the data's, else 8000)
    seconds: float | None = None       # clip length; longer sounds are cut, shorter padded (default: the data's, else 1)
    n_fft: int = 512                   # STFT window length in samples
    n_mels: int = 64                   # mel bands of the spectrogram
    frames: int = 64                   # spectrogram frames per clip, 4 times a power of two
    channels: int = 128                # width of the default 1-D networks' first stage
    feature_dim: int = 256             # encoder output features
    scale: float = 0.1                 # standard deviation of the Gaussian likelihood on the spectrogram
    weight: float | None = None        # likelihood weight (default: counts as much as a 32x32 RGB image)
    griffin_lim_iterations: int = 32   # phase-recovery iterations when a spectrogram becomes a waveform
    residual: bool = False             # a residual block per stage of the default networks
    cut: str = "start"                 # which part of a longer sound is kept: start or centre


class AudioModality(Modality):
    """Log-mel spectrograms with a Gaussian likelihood of fixed ``scale``."""

    name = "audio"

    Config = AudioConfig

    def setup(self) -> None:
        self.sample_rate = 8000 if self.sample_rate is None else self.sample_rate
        self.seconds = 1.0 if self.seconds is None else self.seconds
        try:
            stage_count(self.frames)
        except ValueError:
            raise ModalityError(f"audio frames must be 4 times a power of two (32, 64, 128); got {self.frames}") from None
        if self.cut not in CUTS:
            raise ModalityError(f"audio cut must be one of {', '.join(CUTS)}; got {self.cut!r}")
        self.length = int(round(self.sample_rate * self.seconds))
        self.hop = self.length // self.frames
        if self.hop < 1 or self.n_fft < self.hop:
            raise ModalityError(f"{self.frames} frames do not fit {self.length} samples with n_fft {self.n_fft}")

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

