"""Networks of the attribute oracles: one small multi-head classifier per modality.

Every network reads the world's *raw* arrays as tensors — images uint8 ``(N, S, S, 3)``, videos
uint8 ``(N, T, S, S, 3)``, waveforms float ``(N, L)`` in [-1, 1] — so a model's output is scored
exactly as the world renders it, with no codec in between. ``compact(raw)`` keeps the part of a
raw batch the network reads (the video network's four key frames); ``features(x)`` maps a
compacted batch to the penultimate activations ``(N, num_features)`` (what FID/KID and
precision/recall compare, in the spirit of Heusel et al., 2017, with a classifier of this world
in place of Inception) and ``forward(x)`` returns logits per attribute.

The image network is a plain strided CNN; the video network reads the scene from the two middle
frames with it and adds a second, narrow stream that compares the first and last frames
(motion); the sound network computes two log-power spectrograms with :func:`torch.stft` (a long
window for pitch and timbre, a short one for envelopes) and runs 1-d convolutions over time with
the frequency bins as channels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

WORK_SIZE = 32          # images and frames larger than this are average-pooled down to it
FEATURES = 128          # width of the penultimate layer (the feature space of FID/KID/PR)
EPS = 1e-6              # floor of the power spectra before the log


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class MultiHead(nn.Module):
    """One linear classifier per attribute on shared features."""

    def __init__(self, width: int, classes: Mapping[str, int]) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({a: nn.Linear(width, k) for a, k in classes.items()})

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        return {a: head(h) for a, head in self.heads.items()}                 # a -> (N, K_a)


class OracleNet(nn.Module):
    """Shared part: ``trunk`` maps prepared input to (N, trunk_out); a linear layer gives the
    features and one linear head per attribute the logits."""

    def __init__(self, trunk: nn.Module, trunk_out: int, classes: Mapping[str, int]) -> None:
        super().__init__()
        self.trunk = trunk
        self.embed = nn.Sequential(nn.Linear(trunk_out, FEATURES),
                                   nn.BatchNorm1d(FEATURES), nn.ReLU(inplace=True))
        self.head = MultiHead(FEATURES, classes)
        self.num_features = FEATURES        # read by torchmetrics for custom feature extractors

    def compact(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw batch -> the part of it the network reads, still raw (default: all of it).
        Training keeps its samples in this form to save memory."""
        return raw

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Compacted raw batch -> float network input."""
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Compacted raw batch -> penultimate features (N, FEATURES)."""
        return self.embed(self.trunk(self.prepare(x)))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.head(self.features(x))


def _to_work_size(x: torch.Tensor) -> torch.Tensor:
    """(N, C, S, S) float -> (N, C, min(S, 32), ...) by average pooling (S a multiple of 32)."""
    s = x.shape[-1]
    if s > WORK_SIZE and s % WORK_SIZE == 0:
        return F.avg_pool2d(x, s // WORK_SIZE)
    if s > WORK_SIZE:
        return F.adaptive_avg_pool2d(x, WORK_SIZE)
    return x


def _image_trunk(c_in: int, width: int) -> tuple[nn.Module, int]:
    """(N, c_in, 32, 32) -> (N, 2*width, 4, 4); smaller inputs are pooled to 4x4 at the end."""
    trunk = nn.Sequential(
        _conv(c_in, width),                       # (N, w, 32, 32)
        _conv(width, width, 2),                   # (N, w, 16, 16)
        _conv(width, 2 * width, 2),               # (N, 2w, 8, 8)
        _conv(2 * width, 2 * width, 2),           # (N, 2w, 4, 4)
        nn.AdaptiveAvgPool2d(4), nn.Flatten(),    # (N, 32w)
    )
    return trunk, 2 * width * 16


class ImageOracleNet(OracleNet):
    """Classifier of uint8 images (N, S, S, 3)."""

    def __init__(self, classes: Mapping[str, int], width: int = 24) -> None:
        super().__init__(*_image_trunk(3, width), classes)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2).float() / 255.0 - 0.5                      # (N, 3, S, S)
        return _to_work_size(x)


class VideoTrunk(nn.Module):
    """Videos prepared as (N, 12, 32, 32) = first, two middle and last frames -> features (N, 40w).

    Two streams: the image trunk reads the scene from the two middle frames (where the shape is
    whole and near its cell centre), a narrow strided CNN reads the motion from the first and
    last frames (direction of travel, growing or shrinking)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.scene, scene_out = _image_trunk(6, width)
        self.motion = nn.Sequential(
            _conv(6, width // 2, 2),                  # (N, w/2, 16, 16)
            _conv(width // 2, width // 2, 2),         # (N, w/2, 8, 8)
            _conv(width // 2, width // 2, 2),         # (N, w/2, 4, 4)
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),    # (N, 8w)
        )
        self.out_features = scene_out + 8 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scene = self.scene(x[:, 3:9])
        motion = self.motion(torch.cat([x[:, :3], x[:, 9:]], dim=1))
        return torch.cat([scene, motion], dim=1)


class VideoOracleNet(OracleNet):
    """Classifier of uint8 videos (N, T, S, S, 3), from four key frames: the first, the two
    around the middle, and the last."""

    def __init__(self, classes: Mapping[str, int], frames: int, width: int = 24) -> None:
        trunk = VideoTrunk(width)
        super().__init__(trunk, trunk.out_features, classes)
        self.keys = [0, max(frames // 2 - 1, 0), frames // 2, frames - 1]

    def compact(self, raw: torch.Tensor) -> torch.Tensor:
        return raw[:, self.keys]                                               # (N, 4, S, S, 3)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        n, k, s = x.shape[0], x.shape[1], x.shape[2]
        x = x.permute(0, 1, 4, 2, 3).reshape(n, 3 * k, s, s).float() / 255.0 - 0.5   # (N, 12, S, S)
        return _to_work_size(x)


class PowerSpectrogram(nn.Module):
    """Waveforms (N, L) -> power spectrogram (N, n_fft//2 + 1, frames), Hann window."""

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wave, self.n_fft, self.hop, window=self.window, return_complex=True,
                          center=True)                                         # (N, F, T)
        return spec.real.square() + spec.imag.square()


def _pow2(x: float) -> int:
    return 2 ** max(3, round(math.log2(x)))


class SoundTrunk(nn.Module):
    """Waveforms (N, L) -> features from two spectrograms.

    * long window (~128 ms, 8 Hz bins at 8 kHz), averaged over time: fine enough to tell notes
      three semitones apart and read the timbre, the loudness and the background bed;
    * short window (~16 ms, ~8 ms hop): an envelope fast enough for an 11 Hz tremolo and the note
      onsets; 1-d convolutions run over time with the frequency bins as channels, and the
      flattened time axis keeps where the notes fall (how many there are).
    """

    def __init__(self, sample_rate: int, width: int = 64) -> None:
        super().__init__()
        n_long, n_short = _pow2(sample_rate * 0.128), _pow2(sample_rate * 0.016)
        self.long = PowerSpectrogram(n_long, n_long // 2)
        self.short = PowerSpectrogram(n_short, n_short // 2)
        bins_long, bins_short = n_long // 2 + 1, n_short // 2 + 1
        self.spectral = nn.Sequential(nn.BatchNorm1d(bins_long), nn.Linear(bins_long, 2 * width),
                                      nn.ReLU(inplace=True))
        self.temporal = nn.Sequential(
            nn.BatchNorm1d(bins_short),
            nn.Conv1d(bins_short, width, 5, 2, 2), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
            nn.Conv1d(width, width, 5, 2, 2), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool1d(8), nn.Flatten(),
        )
        self.out_features = 2 * width + 8 * width

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        wave = wave.float()                                                    # (N, L)
        long = torch.log(self.long(wave).mean(-1) + EPS)                       # (N, F_long)
        short = torch.log(self.short(wave) + EPS)                              # (N, F_short, T)
        return torch.cat([self.spectral(long), self.temporal(short)], dim=1)   # (N, 10w)


class SoundOracleNet(OracleNet):
    """Classifier of waveforms (N, L) in [-1, 1]."""

    def __init__(self, classes: Mapping[str, int], sample_rate: int, width: int = 64) -> None:
        trunk = SoundTrunk(sample_rate, width)
        super().__init__(trunk, trunk.out_features, classes)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()                                                       # (N, L)
