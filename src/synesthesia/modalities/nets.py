"""Default encoder and decoder networks shared by the modalities.

Convolutional towers that halve (encoders) or double (decoders) the resolution at each stage,
in 1-D (sound: mel bands as channels, time as length), 2-D (images) and 3-D (videos: time, height,
width). Each stage is a strided convolution followed by a 3x3 residual block, so most of the work
sits in a few dense convolutions (what a CPU runs fastest per FLOP). Encoders end in a linear
layer to ``feature_dim`` features; decoders start from a linear layer on ``z``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def stage_count(size: int, final: int = 4) -> int:
    """Number of halvings from ``size`` to ``final`` (``size`` must be ``final * 2**k``)."""
    k, s = 0, size
    while s > final:
        if s % 2:
            raise ValueError(f"size {size} is not {final} times a power of two")
        s //= 2
        k += 1
    if s != final:
        raise ValueError(f"size {size} is not {final} times a power of two")
    return k


def widths(base: int, stages: int, cap: int) -> list[int]:
    """Channel widths per stage: ``base``, doubling, capped at ``cap``."""
    return [min(base * 2 ** i, cap) for i in range(stages)]


class Residual(nn.Module):
    """x + conv(act(conv(act(x)))) with 3-wide kernels (space only in 3-D); keeps shape."""

    def __init__(self, dims: int, channels: int) -> None:
        super().__init__()
        conv = _CONV[dims]
        kernel, pad = ((1, 3, 3), (0, 1, 1)) if dims == 3 else (3, 1)
        self.block = nn.Sequential(nn.SiLU(), conv(channels, channels, kernel, padding=pad),
                                   nn.SiLU(), conv(channels, channels, kernel, padding=pad))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def _stride(dims: int, time_strides: Sequence[int] | None, i: int):
    """Stride, kernel and padding per stage: stride 2 with kernel 4 everywhere, except the time
    axis of 3-D towers, which follows ``time_strides``; a stage that keeps the time axis does not
    mix frames (kernel 1: oneDNN's bf16 3-D kernels miscompute a time kernel wider than a short
    time axis)."""
    if dims < 3 or time_strides is None:
        return 2, 4, 1
    if time_strides[i] == 2:
        return (2, 2, 2), (4, 4, 4), (1, 1, 1)
    return (1, 2, 2), (1, 4, 4), (0, 1, 1)


class ConvEncoder(nn.Module):
    """(B, C_in, *spatial) -> (B, feature_dim). ``spatial`` halves ``stages`` times down to
    ``final`` (per axis; the time axis of videos follows ``time_strides``)."""

    def __init__(self, dims: int, in_channels: int, spatial: Sequence[int], stages: int, base: int,
                 feature_dim: int, cap: int = 256, time_strides: Sequence[int] | None = None,
                 residual: bool = True) -> None:
        super().__init__()
        conv = _CONV[dims]
        layers: list[nn.Module] = []
        ch_in = in_channels
        for i, ch in enumerate(widths(base, stages, cap)):
            stride, kernel, pad = _stride(dims, time_strides, i)
            layers += [conv(ch_in, ch, kernel, stride=stride, padding=pad)]
            if residual:
                layers += [Residual(dims, ch)]
            layers += [nn.SiLU()]
            ch_in = ch
        self.convs = nn.Sequential(*layers)
        out = list(spatial)
        for i in range(stages):
            stride = _stride(dims, time_strides, i)[0]
            strides = stride if isinstance(stride, tuple) else (stride,) * dims
            out = [o // s for o, s in zip(out, strides)]
        self.flat = ch_in * int(torch.tensor(out).prod())
        self.head = nn.Linear(self.flat, feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x)                                   # (B, C, *final)
        return self.head(h.flatten(1))                      # (B, feature_dim)


class ConvDecoder(nn.Module):
    """(B, latent_dim) -> (B, C_out, *spatial): the mirror of :class:`ConvEncoder`."""

    def __init__(self, dims: int, latent_dim: int, out_channels: int, spatial: Sequence[int],
                 stages: int, base: int, cap: int = 256, time_strides: Sequence[int] | None = None,
                 residual: bool = True) -> None:
        super().__init__()
        conv_t = _CONV_T[dims]
        chans = widths(base, stages, cap)[::-1]            # widest first
        strides_all = [_stride(dims, time_strides, i) for i in range(stages)][::-1]
        start = list(spatial)
        for stride, _, _ in strides_all:
            strides = stride if isinstance(stride, tuple) else (stride,) * dims
            start = [o // s for o, s in zip(start, strides)]
        self.start_shape = (chans[0], *start)
        self.head = nn.Linear(latent_dim, int(torch.tensor(self.start_shape).prod()))
        layers: list[nn.Module] = []
        for i, (stride, kernel, pad) in enumerate(strides_all):
            ch_out = chans[i + 1] if i + 1 < stages else base
            if residual:
                layers += [Residual(dims, chans[i])]
            layers += [nn.SiLU(), conv_t(chans[i], ch_out, kernel, stride=stride, padding=pad)]
        # the output layer mixes neighbours in space only (cheap at full resolution)
        kernel, pad = ((1, 3, 3), (0, 1, 1)) if dims == 3 else (3, 1)
        layers += [nn.SiLU(), _CONV[dims](base, out_channels, kernel, padding=pad)]
        self.convs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.head(z).view(len(z), *self.start_shape)    # (B, C, *start)
        return self.convs(h)                                # (B, C_out, *spatial)
