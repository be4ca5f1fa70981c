"""The visual tokenizer: an FSQ autoencoder that turns images or videos into grids of discrete
codes and back, trained (and saved as its own run) before the autoregressive generator.

Encoder: a 3x3 convolution, then per stage residual blocks (none at full resolution, where they
would cost the most) and a strided convolution (halving space, and time for the first
``log2(time_downsample)`` stages of a video), residual blocks, a 1x1 convolution to
d = len(levels) channels, FSQ. The decoder mirrors it with nearest-neighbour
upsampling. Videos use 3-D convolutions over (time, height, width); time kernels are only used
where the time axis is at least 4 long (oneDNN's bf16 3-D kernels miscompute wider ones).

Shapes: image (B, 3, S, S) -> grid (S/ds, S/ds); video (B, T, 3, S, S) -> grid (T/tds, S/ds,
S/ds); indices (B, N) with N the grid's size, in raster order (time, row, column).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from synesthesia.modalities.base import Modality
from synesthesia.models.collapse import CollapseMonitor
from synesthesia.models.transformer.config import TokenizerConfig
from synesthesia.models.transformer.errors import CodebookCollapseError, ModelInputError
from synesthesia.models.transformer.fsq import FSQ

VISUAL = ("image", "video")
COLLAPSE_FRACTION = 0.1         # codebook usage below this share of its best stops training
MIN_USAGE = 0.05                # ... once the usage has been at least this
_CONV = {2: nn.Conv2d, 3: nn.Conv3d}


def _kernel(dims: int, time_len: int, k: int = 3):
    """Kernel and padding of a 'same' convolution: mixes time only when it is at least 4 long."""
    if dims == 2:
        return k, k // 2
    return ((k, k, k), (k // 2,) * 3) if time_len >= 4 else ((1, k, k), (0, k // 2, k // 2))


class ResBlock(nn.Module):
    def __init__(self, dims: int, channels: int, time_len: int = 1) -> None:
        super().__init__()
        kernel, pad = _kernel(dims, time_len)
        self.conv1 = _CONV[dims](channels, channels, kernel, padding=pad)
        self.conv2 = _CONV[dims](channels, channels, kernel, padding=pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class Down(nn.Module):
    """Halve space (and time when ``time``) with a kernel-4 strided convolution."""

    def __init__(self, dims: int, c_in: int, c_out: int, time: bool) -> None:
        super().__init__()
        if dims == 2:
            self.conv = nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)
        elif time:
            self.conv = nn.Conv3d(c_in, c_out, 4, stride=2, padding=1)
        else:
            self.conv = nn.Conv3d(c_in, c_out, (1, 4, 4), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Up(nn.Module):
    """Double space (and time when ``time``) by nearest-neighbour upsampling and a convolution."""

    def __init__(self, dims: int, c_in: int, c_out: int, time: bool, time_len: int) -> None:
        super().__init__()
        self.scale = 2 if dims == 2 else ((2, 2, 2) if time else (1, 2, 2))
        kernel, pad = _kernel(dims, time_len)
        self.conv = _CONV[dims](c_in, c_out, kernel, padding=pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=self.scale, mode="nearest"))


class VisualTokenizer(nn.Module):
    """FSQ autoencoder of the one visual modality (image or video) in ``modalities``."""

    def __init__(self, modalities: Mapping[str, Modality], config: TokenizerConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or TokenizerConfig()
        visual = [m for m in modalities if m in VISUAL]
        if len(visual) != 1 or len(modalities) != 1:
            raise ModelInputError(f"a tokenizer trains on one visual modality (image or video); got "
                                  f"{list(modalities)}: set data.modalities to [image] or [video]")
        self.modalities = dict(modalities)
        self.name = name = visual[0]
        mod = modalities[name]
        self.dims = 2 if name == "image" else 3
        size, frames = mod.size, (getattr(mod, "frames", 1) if name == "video" else 1)
        stages = int(math.log2(cfg.downsample))
        time_stages = int(math.log2(cfg.time_downsample)) if name == "video" else 0
        if size % cfg.downsample or frames % (2 ** time_stages) or time_stages > stages:
            raise ModelInputError(f"{name} of {frames} x {size} px does not divide into codes of "
                                  f"{cfg.time_downsample if time_stages else 1} x {cfg.downsample} px "
                                  "(time_downsample may not exceed downsample)")
        self.grid = ((frames >> time_stages,) if name == "video" else ()) + (size // cfg.downsample,) * 2
        self.tokens = math.prod(self.grid)
        self.fsq = FSQ(cfg.levels)
        self._usage_avg: float | None = None                # running codebook usage while training
        self._usage_monitor = CollapseMonitor(COLLAPSE_FRACTION, patience=0)
        self.codebook_size = self.fsq.codebook_size
        d, dims, c = self.fsq.dim, self.dims, cfg.channels
        chans = [c * 2 ** min(i, 2) for i in range(stages + 1)]                 # c, 2c, 4c, 4c ...
        times = [frames >> min(i, time_stages) for i in range(stages + 1)]      # time length per stage
        conv = _CONV[dims]

        def same(c_in: int, c_out: int, time_len: int) -> nn.Module:
            kernel, pad = _kernel(dims, time_len)
            return conv(c_in, c_out, kernel, padding=pad)

        def blocks(i: int) -> list[nn.Module]:          # none at full resolution, where they cost most
            return [ResBlock(dims, chans[i], times[i]) for _ in range(cfg.blocks if i > 0 else 0)]

        enc: list[nn.Module] = [same(3, c, frames)]
        for i in range(stages):
            enc += blocks(i)
            enc += [Down(dims, chans[i], chans[i + 1], i < time_stages)]
        enc += blocks(stages)
        enc += [nn.SiLU(), conv(chans[-1], d, 1)]
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [same(d, chans[-1], times[-1])]
        dec += blocks(stages)
        for i in reversed(range(stages)):
            dec += [Up(dims, chans[i + 1], chans[i], i < time_stages, times[i])]
            dec += blocks(i)
        dec += [nn.SiLU(), same(c, 3, frames)]
        self.decoder = nn.Sequential(*dec)

    # -- codes -------------------------------------------------------------------------------
    def _channels_first(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2) if self.dims == 3 else x                      # video -> (B, 3, T, S, S)

    def quantised(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, *shape) -> grid codes (B, d, *grid) in [-1, 1]."""
        z = self.encoder(self._channels_first(x))                              # (B, d, *grid)
        return self.fsq(z.movedim(1, -1)).movedim(-1, 1)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, *shape) -> code indices (B, N), computed in float32."""
        with torch.autocast(x.device.type, enabled=False):
            q = self.quantised(x.float())
        return self.fsq.codes_to_indices(q.movedim(1, -1)).flatten(1)

    def decode_codes(self, q: torch.Tensor) -> torch.Tensor:
        out = self.decoder(q)                                                  # (B, 3, *spatial)
        return out.transpose(1, 2) if self.dims == 3 else out

    @torch.no_grad()
    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Code indices (B, N) -> x (B, *shape)."""
        if indices.shape[1:] != (self.tokens,):
            raise ModelInputError(f"expected code indices (B, {self.tokens}), got {tuple(indices.shape)}")
        q = self.fsq.indices_to_codes(indices.view(len(indices), *self.grid))   # (B, *grid, d)
        return self.decode_codes(q.movedim(-1, 1))

    # -- training ----------------------------------------------------------------------------
    def forward(self, data: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None = None) -> dict:
        """Reconstruction loss ``{"loss", "mse", "l1", "usage"}`` (usage: share of the codebook
        seen in the batch)."""
        if self.name not in data:
            raise ModelInputError(f"the tokenizer trains on data[{self.name!r}]; the batch has {list(data)}")
        x = data[self.name]
        if masks is not None and self.name in masks and not bool(masks[self.name].all()):
            x = x[masks[self.name]]
        q = self.quantised(x)
        rec = self.decode_codes(q)
        mse = F.mse_loss(rec.float(), x.float())
        l1 = F.l1_loss(rec.float(), x.float())
        idx = self.fsq.codes_to_indices(q.detach().movedim(1, -1))
        usage = torch.tensor(idx.unique().numel() / self.codebook_size)
        if self.training:
            self._watch_usage(float(usage))
        return {"loss": mse + self.config.l1_weight * l1, "mse": mse.detach(), "l1": l1.detach(), "usage": usage}

    def _watch_usage(self, usage: float) -> None:
        """Stop when the codebook collapses: the running usage falls below ``COLLAPSE_FRACTION``
        of its best after having been meaningful. The encoder then sits at the edges of the
        quantiser (all inputs on a handful of codes) and does not come back, so training on is
        wasted time."""
        self._usage_avg = usage if self._usage_avg is None else 0.9 * self._usage_avg + 0.1 * usage
        monitor = self._usage_monitor
        if monitor.update(self._usage_avg) and monitor.best >= MIN_USAGE:
            raise CodebookCollapseError(
                f"the tokenizer's codebook collapsed: the batches use {self._usage_avg:.1%} of its "
                f"{self.codebook_size} codes, down from {monitor.best:.1%}; lower train.lr (e.g. "
                "halve it) and train again, or resume from a checkpoint before the collapse with a "
                "lower train.lr")

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def directions(self) -> list:
        """None: a tokenizer is a component of the autoregressive generator, not a generator."""
        return []
