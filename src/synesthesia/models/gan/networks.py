"""Networks of the conditional GAN, in 2-D (images, sounds' spectrograms) and 3-D (videos: time,
height, width).

* :class:`ConditionEncoder` fuses any subset of condition modalities into one vector: each
  modality's own encoder (``Modality.build_encoder()``) and a linear projection, summed; an absent
  modality contributes a learned null embedding instead, so one model serves every subset.
* :class:`Generator` follows DF-GAN (Tao et al., 2022, "DF-GAN: A Simple and Effective Baseline
  for Text-to-Image Synthesis"): no normalisation layers; z and the condition are mapped to w, and
  every stage — a transposed convolution that doubles the resolution, then a residual 3x3 block —
  is modulated channel-wise by affine transforms predicted from w ("deep fusion").
* :class:`Discriminator` follows SNGAN (Miyato et al., 2018): spectral normalisation on every
  layer, strided convolutions with LeakyReLU, and the projection head of Miyato & Koyama (2018,
  "cGANs with Projection Discriminator"): D(x, c) = psi(phi(x)) + <V c, phi(x)>. A second,
  normalised head scores image-condition pairs for the contrastive loss (XMC-GAN, Zhang et al.,
  2021).

* :class:`FrameGenerator` and :class:`FrameDiscriminator` are the frame-sampled alternative for
  videos, after StyleGAN-V (Skorokhodov et al., 2022) and DIGAN (Yu et al., 2022): the generator
  is the 2-D image generator made a function of time (the same z and condition for every frame,
  plus Fourier features of the frame's time), so training renders only ``k`` frames of each
  video; the discriminator reads those ``k`` frames with the 2-D trunk and judges them together
  with their times, which is how it sees motion. The cost of a training step is that of ``k``
  images instead of a whole clip through 3-D towers; sampling renders every frame.

Shapes: images (B, 3, S, S); videos (B, T, 3, S, S) in modality form, (B, 3, T, S, S) inside the
3-D towers; sounds' normalised log-mel spectrograms (B, M, T) in modality form, about [-1, 1], a
one-channel (B, 1, M, T) picture in [0, 1] inside the 2-D towers (a convolutional spectrogram
generator, as in WaveGAN's SpecGAN, Donahue et al., 2019). :class:`Layout` (chosen per target
modality through :data:`LAYOUTS`) says which.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from synesthesia.config import ConfigError
from synesthesia.modalities.base import Modality
from synesthesia.modalities.dsp import FLOOR_DB, db_to_log_mel
from synesthesia.modalities.nets import stage_count, widths
from synesthesia.modalities.video import time_strides

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
SLOPE = 0.2


# ---------------------------------------------------------------------------------------------
# layouts: how a target modality's tensors meet the towers


@dataclass(frozen=True)
class Layout:
    """``dims`` 2 or 3; ``spatial`` (S, S) or (T, S, S); ``strides`` per stage from full resolution
    down (each axis 1 or 2); ``time_first``: the modality's tensors are (B, T, C, H, W);
    ``no_channel``: they are (B, H, W) (one channel); ``values``: the modality's range that the
    networks' [0, 1] stands for."""

    dims: int
    channels: int
    spatial: tuple[int, ...]
    strides: tuple[tuple[int, ...], ...]
    time_first: bool = False
    no_channel: bool = False
    values: tuple[float, float] = (0.0, 1.0)

    @property
    def start(self) -> tuple[int, ...]:
        """The generator's first feature map (and the discriminator's last)."""
        out = list(self.spatial)
        for s in self.strides:
            out = [o // k for o, k in zip(out, s)]
        return tuple(out)

    def to_net(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.values
        x = x.transpose(1, 2) if self.time_first else x.unsqueeze(1) if self.no_channel else x
        return x if (lo, hi) == (0.0, 1.0) else (x - lo) / (hi - lo)

    def from_net(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.values
        x = x if (lo, hi) == (0.0, 1.0) else x * (hi - lo) + lo
        return x.transpose(1, 2) if self.time_first else x.squeeze(1) if self.no_channel else x


def image_layout(modality: Modality) -> Layout:
    channels, h, w = modality.shape                                     # (3, S, S)
    return Layout(2, channels, (h, w), ((2, 2),) * stage_count(h))


def video_layout(modality: Modality) -> Layout:
    frames, channels, h, w = modality.shape                             # (T, 3, S, S)
    stages = stage_count(h)
    return Layout(3, channels, (frames, h, w), tuple((t, 2, 2) for t in time_strides(frames, stages)),
                  time_first=True)


def audio_layout(modality: Modality) -> Layout:
    """A spectrogram (M mel bands, T frames) as a one-channel picture; each axis halves until it
    is 4 (the shorter one then keeps its size). Values: the normalised log-mel of the floor
    (-100 dB) to 0 dB, i.e. [-1, 1] (louder bins come out at 0 dB)."""
    mels, frames = modality.shape
    try:
        counts = stage_count(mels), stage_count(frames)
    except ValueError:
        raise ConfigError(f"a GAN generates spectrograms whose mel bands and frames are each 4 times a "
                          f"power of two; this sound has {mels} bands and {frames} frames (set "
                          f"modalities.audio.n_mels and frames, e.g. 64)") from None
    strides = tuple(tuple(2 if k < c else 1 for c in counts) for k in range(max(counts)))
    return Layout(2, 1, (mels, frames), strides, no_channel=True,
                  values=(db_to_log_mel(FLOOR_DB), db_to_log_mel(0.0)))


# target modality -> its layout; a user's own pixel modality joins by adding an entry
LAYOUTS: dict[str, Callable[[Modality], Layout]] = {"image": image_layout, "video": video_layout,
                                                    "audio": audio_layout}
# what a GAN generates when its config names no targets
DEFAULT_TARGETS = ("image", "video")


def _kernel(stride: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Kernel and padding per axis: 4 and 1 where the axis halves or doubles, 1 and 0 where it
    stays (3-D: a stage that keeps the time axis does not mix frames)."""
    return tuple(4 if s == 2 else 1 for s in stride), tuple(1 if s == 2 else 0 for s in stride)


def _local(dims: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A 3x3 kernel in space (1x3x3 in 3-D) and its padding."""
    return ((1, 3, 3), (0, 1, 1)) if dims == 3 else ((3, 3), (1, 1))


# ---------------------------------------------------------------------------------------------
# condition encoder


class ConditionEncoder(nn.Module):
    """{modality: (B, *shape)} + presence masks -> c (B, cond_dim): LayerNorm(sum over modalities
    of proj_m(encoder_m(x_m)) where present, else null_m)."""

    def __init__(self, modalities: Mapping[str, Modality], cond_dim: int) -> None:
        super().__init__()
        self.names = list(modalities)
        self.cond_dim = cond_dim
        self.encoders = nn.ModuleDict({m: mod.build_encoder() for m, mod in modalities.items()})
        self.proj = nn.ModuleDict({m: nn.Linear(mod.feature_dim, cond_dim) for m, mod in modalities.items()})
        self.null = nn.ParameterDict({m: nn.Parameter(0.02 * torch.randn(cond_dim)) for m in modalities})
        self.norm = nn.LayerNorm(cond_dim)

    def forward(self, given: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor] | None = None,
                batch_size: int | None = None) -> torch.Tensor:
        b = len(next(iter(given.values()))) if given else batch_size
        device = self.null[self.names[0]].device
        c = torch.zeros(b, self.cond_dim, device=device)
        for m in self.names:
            null = self.null[m].expand(b, -1)
            mask = None if present is None else present.get(m)
            if m not in given or (mask is not None and not bool(mask.any())):
                c = c + null
                continue
            f = self.proj[m](self.encoders[m](given[m])).float()              # (B, cond_dim)
            c = c + (f if mask is None else torch.where(mask[:, None], f, null))
        return self.norm(c)                                                 # (B, cond_dim)


# ---------------------------------------------------------------------------------------------
# generator


class Affine(nn.Module):
    """DF-GAN's conditional channel-wise affine: h * (1 + gamma(w)) + beta(w); starts as identity."""

    def __init__(self, w_dim: int, channels: int, dims: int) -> None:
        super().__init__()
        self.dims = dims
        self.linear = nn.Linear(w_dim, 2 * channels)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.linear(w).chunk(2, dim=-1)                       # (B, C) each
        shape = (len(w), -1) + (1,) * self.dims
        return h * (1 + gamma.view(shape)) + beta.view(shape)


class UpStage(nn.Module):
    """Transposed convolution (x2 where ``stride`` says), affine + LeakyReLU, then optionally a
    residual block conv(act(affine(h)))."""

    def __init__(self, dims: int, c_in: int, c_out: int, w_dim: int, stride: Sequence[int],
                 residual: bool) -> None:
        super().__init__()
        kernel, pad = _kernel(stride)
        self.up = _CONV_T[dims](c_in, c_out, kernel, stride=tuple(stride), padding=pad)
        self.fuse = Affine(w_dim, c_out, dims)
        self.residual = residual
        if residual:
            k, p = _local(dims)
            self.fuse2 = Affine(w_dim, c_out, dims)
            self.conv = _CONV[dims](c_out, c_out, k, padding=p)

    def forward(self, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.fuse(self.up(h), w), SLOPE)                  # (B, C_out, *2x)
        if self.residual:
            h = h + self.conv(F.leaky_relu(self.fuse2(h, w), SLOPE))
        return h


class Generator(nn.Module):
    """(z (B, Z), c (B, cond_dim)) -> target (B, *shape) in [0, 1]."""

    def __init__(self, layout: Layout, noise_dim: int, cond_dim: int, w_dim: int, base: int,
                 cap: int = 256, residual: bool = True) -> None:
        super().__init__()
        self.layout = layout
        stages = len(layout.strides)
        chans = widths(base, stages, cap)[::-1]                            # widest first
        self.start_shape = (chans[0], *layout.start)
        self.mapping = nn.Sequential(nn.Linear(noise_dim + cond_dim, w_dim), nn.LeakyReLU(SLOPE),
                                     nn.Linear(w_dim, w_dim), nn.LeakyReLU(SLOPE))
        self.start = nn.Linear(w_dim, math.prod(self.start_shape))
        strides = layout.strides[::-1]
        self.stages = nn.ModuleList([
            UpStage(layout.dims, chans[i], chans[i + 1] if i + 1 < stages else base, w_dim, strides[i], residual)
            for i in range(stages)])
        k, p = _local(layout.dims)
        self.out = _CONV[layout.dims](base, layout.channels, k, padding=p)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        w = self.mapping(torch.cat([z, c], dim=1))                          # (B, W)
        h = self.start(w).view(len(w), *self.start_shape)                   # (B, C0, *start)
        for stage in self.stages:
            h = stage(h, w)                                                 # (B, C_i, *2x)
        x = torch.tanh(self.out(F.leaky_relu(h, SLOPE))) * 0.5 + 0.5        # (B, C, *spatial) in [0, 1]
        return self.layout.from_net(x)


# ---------------------------------------------------------------------------------------------
# discriminator


def _sn(module: nn.Module, on: bool) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(module) if on else module


class DownResidual(nn.Module):
    """h + conv(act(conv(act(h)))), spectrally normalised 3x3 (1x3x3) convolutions."""

    def __init__(self, dims: int, channels: int, sn: bool) -> None:
        super().__init__()
        k, p = _local(dims)
        self.conv1 = _sn(_CONV[dims](channels, channels, k, padding=p), sn)
        self.conv2 = _sn(_CONV[dims](channels, channels, k, padding=p), sn)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.conv2(F.leaky_relu(self.conv1(F.leaky_relu(h, SLOPE)), SLOPE))


class Discriminator(nn.Module):
    """x (B, *shape) -> features phi (B, feature_dim); ``score(phi, c)`` (B,) is the projection
    discriminator's logit and ``match_logits(phi, c)`` (B, B) the contrastive head's similarities
    of every image with every condition."""

    def __init__(self, layout: Layout, cond_dim: int, base: int, cap: int = 256, feature_dim: int = 256,
                 match_dim: int = 128, residual: bool = True, sn: bool = True) -> None:
        super().__init__()
        self.layout = layout
        chans = widths(base, len(layout.strides), cap)
        layers: list[nn.Module] = []
        c_in = layout.channels
        for c, stride in zip(chans, layout.strides):
            kernel, pad = _kernel(stride)
            layers += [_sn(_CONV[layout.dims](c_in, c, kernel, stride=tuple(stride), padding=pad), sn),
                       nn.LeakyReLU(SLOPE)]
            if residual:
                layers.append(DownResidual(layout.dims, c, sn))
            c_in = c
        self.convs = nn.Sequential(*layers)
        self.head = _sn(nn.Linear(c_in * math.prod(layout.start), feature_dim), sn)
        self.psi = _sn(nn.Linear(feature_dim, 1), sn)
        self.embed = _sn(nn.Linear(cond_dim, feature_dim, bias=False), sn)       # V of the projection
        self.match_x = nn.Linear(feature_dim, match_dim)
        self.match_c = nn.Linear(cond_dim, match_dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(self.layout.to_net(x) * 2 - 1)                       # (B, C, *start)
        return F.leaky_relu(self.head(h.flatten(1)), SLOPE)                 # (B, feature_dim)

    def score(self, phi: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.psi(phi)[:, 0] + (self.embed(c) * phi).sum(dim=1)       # (B,)

    def match_logits(self, phi: torch.Tensor, c: torch.Tensor, temperature: float) -> torch.Tensor:
        a = F.normalize(self.match_x(phi).float(), dim=1)                   # (B, M)
        b = F.normalize(self.match_c(c).float(), dim=1)                     # (B, M)
        return a @ b.T / temperature                                        # (B, B)


# ---------------------------------------------------------------------------------------------
# frame-sampled videos


TIME_BANDS = 4
TIME_DIM = 1 + 2 * TIME_BANDS          # width of time_features


def time_features(times: torch.Tensor, frames: int, bands: int = TIME_BANDS) -> torch.Tensor:
    """Frame indices (...,) of a ``frames``-long clip -> (..., 1 + 2 * bands): the time u in
    [0, 1] and sin/cos(pi k u) for k = 1..bands (smooth in u, so motion can be linear in it)."""
    u = times.float() / max(frames - 1, 1)
    k = torch.arange(1, bands + 1, device=times.device, dtype=torch.float32) * math.pi
    return torch.cat([u[..., None], torch.sin(u[..., None] * k), torch.cos(u[..., None] * k)], dim=-1)


class FrameGenerator(nn.Module):
    """(z (B, Z), c (B, cond_dim), times (B, K) or None) -> frames (B, K, 3, S, S) of the clip at
    those frame indices (all ``frames`` of them when ``times`` is None): a 2-D :class:`Generator`
    whose condition is [c ; time features]."""

    def __init__(self, frames: int, image: Layout, noise_dim: int, cond_dim: int, w_dim: int, base: int,
                 cap: int = 256, residual: bool = True) -> None:
        super().__init__()
        self.frames = frames
        self.image = Generator(image, noise_dim, cond_dim + TIME_DIM, w_dim, base, cap, residual)

    def forward(self, z: torch.Tensor, c: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        b = len(z)
        if times is None:
            times = torch.arange(self.frames, device=z.device).expand(b, -1)  # (B, T)
        k = times.shape[1]
        tf = time_features(times, self.frames).to(c.dtype)                  # (B, K, TIME_DIM)
        cond = torch.cat([c[:, None].expand(-1, k, -1), tf], dim=-1).flatten(0, 1)
        x = self.image(z.repeat_interleave(k, 0), cond)                     # (B * K, 3, S, S)
        return x.view(b, k, *x.shape[1:])


class FrameDiscriminator(Discriminator):
    """Frames (B, K, 3, S, S) at frame indices ``times`` (B, K) -> features phi (B, feature_dim):
    the 2-D trunk on every frame, then a spectrally normalised layer over the K frames' features
    and times in order. ``score`` and ``match_logits`` as in :class:`Discriminator`."""

    def __init__(self, frames: int, sampled: int, image: Layout, cond_dim: int, base: int, cap: int = 256,
                 feature_dim: int = 256, match_dim: int = 128, residual: bool = True, sn: bool = True) -> None:
        super().__init__(image, cond_dim, base, cap, feature_dim, match_dim, residual, sn)
        self.frames, self.sampled = frames, sampled
        self.temporal = _sn(nn.Linear(sampled * (feature_dim + TIME_DIM), feature_dim), sn)

    def features(self, x: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        b, k = x.shape[:2]
        if k != self.sampled or times is None:
            raise ValueError(f"the frame discriminator reads {self.sampled} frames with their times; "
                             f"got {k} frames" + ("" if times is not None else " and no times"))
        phi = super().features(x.flatten(0, 1)).view(b, k, -1)             # (B, K, F)
        tf = time_features(times, self.frames).to(phi.dtype)                # (B, K, TIME_DIM)
        h = torch.cat([phi, tf], dim=-1).flatten(1)                         # (B, K * (F + TIME_DIM))
        return F.leaky_relu(self.temporal(h), SLOPE)                        # (B, F)
