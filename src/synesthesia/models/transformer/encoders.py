"""Source encoders of the captioner and the caption expander: each turns one modality into a
sequence of tokens (B, N, C).

* images: a convolutional stem cuts the image into ``patch`` x ``patch`` patches (early
  convolutions train faster than a linear patch embedding; Xiao et al., 2021);
* videos: a 3-D stem cuts the clip into ``tubelet`` frames x ``video_patch`` x ``video_patch``
  space-time patches (ViViT's tubelets), so motion is seen inside each token and across tokens;
* sound: a 1-D stem over log-mel frames (mel bands as channels) groups ``audio_stride`` frames per
  token;
* captions: a word embedding (:class:`TextEncoder`, for the caption expander).

Then learned position embeddings and non-causal transformer blocks. :data:`ENCODERS` maps a
modality name to its encoder class; a user's modality joins by adding one.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from synesthesia.config import ConfigError
from synesthesia.models.transformer.config import CaptionerConfig
from synesthesia.models.transformer.layers import Block


def _halvings(factor: int) -> int:
    return int(math.log2(factor))


class TokenEncoder(nn.Module):
    """Shared tail: stem output (B, C, *grid) -> tokens (B, N, C) + positions -> blocks -> norm."""

    def __init__(self, stem: nn.Module, tokens: int, cfg: CaptionerConfig) -> None:
        super().__init__()
        self.stem = stem
        self.tokens = tokens
        self.pos = nn.Parameter(torch.randn(1, tokens, cfg.width) * 0.02)
        self.blocks = nn.ModuleList([Block(cfg.width, cfg.heads, cfg.mlp_ratio, cfg.dropout, causal=False)
                                     for _ in range(cfg.encoder_layers)])
        self.ln = nn.LayerNorm(cfg.width)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """The stem's output as a token sequence (B, N, C)."""
        return self.stem(self.prepare(x)).flatten(2).transpose(1, 2)   # (B, C, *grid) -> (B, N, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.sequence(x) + self.pos                       # (B, N, C)
        for block in self.blocks:
            h = block(h)
        return self.ln(h)                                    # (B, N, C)


def _stem(conv, c_in: int, channels: int, width: int, first: tuple, stages: list[tuple]) -> nn.Sequential:
    """A 3-wide convolution at full resolution (``first`` = (kernel, padding)), one strided
    convolution per (stride, kernel, padding) stage, channels doubling, then a 1x1 projection to
    the model width."""
    layers: list[nn.Module] = [conv(c_in, channels, first[0], padding=first[1]), nn.GELU()]
    ch = channels
    for stride, kernel, pad in stages:
        layers += [conv(ch, 2 * ch, kernel, stride=stride, padding=pad), nn.GELU()]
        ch *= 2
    layers += [conv(ch, width, 1)]
    return nn.Sequential(*layers)


class ImageEncoder(TokenEncoder):
    """images (B, 3, S, S) -> (B, (S / patch)^2, C)."""

    def __init__(self, modality, cfg: CaptionerConfig) -> None:
        size = modality.size
        if size % cfg.patch:
            raise ConfigError(f"image size {size} is not a multiple of model.patch {cfg.patch}")
        stages = [(2, 4, 1)] * _halvings(cfg.patch)
        super().__init__(_stem(nn.Conv2d, 3, cfg.stem_channels, cfg.width, (3, 1), stages),
                         (size // cfg.patch) ** 2, cfg)


class VideoEncoder(TokenEncoder):
    """videos (B, T, 3, S, S) -> (B, (T / tubelet) (S / video_patch)^2, C). The last log2(tubelet)
    stages halve time with 4-frame kernels; the others do not mix frames (oneDNN's bf16 3-D
    kernels miscompute time kernels wider than a short time axis; see
    :mod:`synesthesia.modalities.nets`)."""

    def __init__(self, modality, cfg: CaptionerConfig) -> None:
        frames, size, patch = modality.frames, modality.size, cfg.video_patch
        if size % patch or frames % cfg.tubelet:
            raise ConfigError(f"video of {frames} x {size} px is not a multiple of model.tubelet "
                             f"{cfg.tubelet} x model.video_patch {patch}")
        space, time = _halvings(patch), _halvings(cfg.tubelet)
        if time > space:
            raise ConfigError(f"model.tubelet ({cfg.tubelet}) may not exceed model.video_patch ({patch})")
        # halve time in the last stages, where feature maps are small and 4-frame kernels cheap
        stages = [((2, 2, 2), 4, 1) if i >= space - time else ((1, 2, 2), (1, 4, 4), (0, 1, 1))
                  for i in range(space)]
        tokens = (frames // cfg.tubelet) * (size // patch) ** 2
        stem = _stem(nn.Conv3d, 3, cfg.stem_channels, cfg.width, ((1, 3, 3), (0, 1, 1)), stages)
        super().__init__(stem, tokens, cfg)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)                             # (B, 3, T, S, S)


class AudioEncoder(TokenEncoder):
    """log-mel spectrograms (B, n_mels, F) -> (B, F / audio_stride, C)."""

    def __init__(self, modality, cfg: CaptionerConfig) -> None:
        frames = modality.frames
        if frames % cfg.audio_stride:
            raise ConfigError(f"{frames} mel frames are not a multiple of model.audio_stride {cfg.audio_stride}")
        stages = [(2, 4, 1)] * _halvings(cfg.audio_stride)
        channels = max(cfg.stem_channels, modality.n_mels)
        super().__init__(_stem(nn.Conv1d, modality.n_mels, channels, cfg.width, (3, 1), stages),
                         frames // cfg.audio_stride, cfg)


class TextEncoder(TokenEncoder):
    """caption token ids (B, max_len) -> (B, max_len, C): a word embedding as the stem (the caption
    expander's encoder; the captioner writes text rather than reading it)."""

    def __init__(self, modality, cfg: CaptionerConfig) -> None:
        super().__init__(nn.Embedding(modality.vocab_size, cfg.width), modality.max_len, cfg)

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x.long())


# modality name -> encoder class (modality, config)
ENCODERS: dict[str, type[TokenEncoder]] = {"image": ImageEncoder, "video": VideoEncoder, "audio": AudioEncoder}
