"""Sound: mono clips modelled as normalised log-mel spectrograms ``(n_mels, frames)``.

A raw sound is ``(waveform, sample_rate)`` (or a file path). Input policy: another sample rate is
resampled (band-limited, by FFT), several channels are averaged to mono, and a clip of another
length is cut or padded with silence to ``seconds``; each with an :class:`InputAdjusted` warning.
Decoding turns the spectrogram back into a waveform with fast Griffin-Lim.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from synesthesia.config import Section
from synesthesia.modalities import dsp
from synesthesia.modalities.base import Modality, ModalityError, note
from synesthesia.modalities.files import read_audio, write_wav
from synesthesia.modalities.likelihoods import gaussian_log_prob
from synesthesia.modalities.nets import ConvDecoder, ConvEncoder, stage_count


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
            raise ModalityError(f"audio frames must be 4 times a power of two (32, 64, 128); got {self.frames}")
        self.length = int(round(self.sample_rate * self.seconds))
        self.hop = self.length // self.frames
        if self.hop < 1 or self.n_fft < self.hop:
            raise ModalityError(f"{self.frames} frames do not fit {self.length} samples with n_fft {self.n_fft}")

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n_mels, self.frames)

    # -- codec -------------------------------------------------------------------------------
    def waveform(self, raw: Any) -> np.ndarray:
        """A raw sound -> float32 mono (length,) at the modality's rate, with notes."""
        if isinstance(raw, (str, Path)):
            raw = read_audio(raw)
        if not (isinstance(raw, tuple) and len(raw) == 2):
            raise ModalityError("a sound must be a file path or a (waveform, sample_rate) tuple; got "
                                f"{type(raw).__name__}")
        wave, rate = np.asarray(raw[0], dtype=np.float32), int(raw[1])
        if wave.ndim == 2:
            note(f"sound with {wave.shape[1]} channels averaged to mono")
            wave = wave.mean(axis=1)
        if wave.ndim != 1 or len(wave) == 0:
            raise ModalityError(f"a waveform must be a non-empty (samples,) or (samples, channels) array; "
                                f"got shape {wave.shape}")
        if rate != self.sample_rate:
            note(f"sound at {rate} Hz resampled to {self.sample_rate} Hz")
            wave = dsp.resample(wave, rate, self.sample_rate)
        if len(wave) != self.length:
            note(f"sound of {len(wave) / self.sample_rate:.3f} s "
                 f"{'cut' if len(wave) > self.length else 'padded with silence'} to {self.seconds} s")
            wave = np.pad(wave[:self.length], (0, max(0, self.length - len(wave))))
        return wave

    def encode(self, raws: Sequence[Any]) -> torch.Tensor:
        waves = torch.from_numpy(np.stack([self.waveform(r) for r in raws]))         # (B, L)
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
        return read_audio(path)

    def write(self, raw: tuple[np.ndarray, int], path: str | Path) -> Path:
        wave, rate = raw
        return write_wav(wave, rate, path)
