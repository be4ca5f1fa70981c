"""Configurations of the transformer family: one typed dataclass per model kind.

``model.kind`` picks the model (see :data:`synesthesia.models.transformer.KINDS`):

* ``captioner`` — image / video / sound -> text: an encoder per source modality and a causal text
  decoder with cross-attention;
* ``tokenizer`` — a finite-scalar-quantisation autoencoder (FSQ, Mentzer et al. 2023) that turns
  images or videos into grids of discrete codes and back;
* ``autoregressive`` — a decoder-only transformer over [caption tokens ; visual codes] (the
  DALL-E / VideoGPT recipe) on top of a trained tokenizer run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


from synesthesia.config import ConfigError, ModelConfig

DECODINGS = ("greedy", "beam", "sample")


def _check_width(width: int, heads: int) -> None:
    if width < 1 or heads < 1 or width % heads:
        raise ConfigError(f"model.width ({width}) must be a positive multiple of model.heads ({heads})")


def _check_power_of_two(name: str, value: int) -> None:
    if value < 1 or value & (value - 1):
        raise ConfigError(f"model.{name} must be a power of two (1, 2, 4, 8 ...), got {value}")


def _check_sampling(top_k, top_p) -> None:
    if top_k is not None and top_k < 1:
        raise ConfigError(f"model.top_k must be >= 1 (or null for no limit), got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ConfigError(f"model.top_p must be in (0, 1] (or null), got {top_p}")


@dataclass
class CaptionerConfig(ModelConfig):
    """``sources``: the modalities captioned (default: every modality but text), one encoder
    each. Encoders tokenise images into ``patch`` x ``patch`` patches, videos into ``tubelet``
    frames x ``video_patch`` x ``video_patch`` space-time patches and sound into groups of ``audio_stride``
    mel frames, through small convolutional stems, then run ``encoder_layers`` blocks. The text
    decoder has ``decoder_layers`` blocks of causal self-attention and cross-attention.
    ``decoding`` is the default of :meth:`Captioner.generate` (greedy, beam or sample)."""

    kind: str = "captioner"
    sources: list[str] | None = None
    width: int = 192
    heads: int = 4
    encoder_layers: int = 2
    decoder_layers: int = 3
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    stem_channels: int = 32
    patch: int = 4
    video_patch: int = 8
    tubelet: int = 2
    audio_stride: int = 2
    label_smoothing: float = 0.0
    decoding: str = "greedy"
    beam_size: int = 4
    length_penalty: float = 0.0
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        _check_width(self.width, self.heads)
        for name in ("patch", "video_patch", "tubelet", "audio_stride"):
            _check_power_of_two(name, getattr(self, name))
        if self.encoder_layers < 0 or self.decoder_layers < 1:
            raise ConfigError("model.encoder_layers must be >= 0 and model.decoder_layers >= 1")
        if self.decoding not in DECODINGS:
            raise ConfigError(f"model.decoding {self.decoding!r} unknown; choose from {', '.join(DECODINGS)}")
        if self.beam_size < 1:
            raise ConfigError(f"model.beam_size must be >= 1, got {self.beam_size}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"model.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        _check_sampling(self.top_k, self.top_p)


@dataclass
class TokenizerConfig(ModelConfig):
    """An FSQ autoencoder. ``levels``: quantisation levels per latent channel (the codebook has
    their product of entries; Mentzer et al. recommend [8, 5, 5, 5] for ~1k, [8, 8, 8, 5, 5, 5]
    for ~64k). ``downsample``: pixels per code along each side; ``time_downsample``: frames per
    code (videos). ``channels``: width of the convolutional towers, ``blocks``: residual blocks
    per resolution. The loss is the mean squared error plus ``l1_weight`` times the mean
    absolute error of the reconstruction."""

    kind: str = "tokenizer"
    levels: list[int] = field(default_factory=lambda: [8, 5, 5, 5])
    channels: int = 64
    blocks: int = 1
    downsample: int = 4
    time_downsample: int = 2
    l1_weight: float = 0.0

    def __post_init__(self) -> None:
        self.levels = [int(v) for v in self.levels]
        if not self.levels or any(v < 2 for v in self.levels):
            raise ConfigError(f"model.levels must list integers >= 2 (e.g. [8, 5, 5, 5]), got {self.levels}")
        if math.prod(self.levels) > 2 ** 20:
            raise ConfigError(f"model.levels {self.levels} make a codebook of {math.prod(self.levels)} "
                              "entries; keep it under 2**20")
        _check_power_of_two("downsample", self.downsample)
        _check_power_of_two("time_downsample", self.time_downsample)
        if self.channels < 1 or self.blocks < 0:
            raise ConfigError("model.channels must be positive and model.blocks >= 0")

    @property
    def codebook_size(self) -> int:
        return math.prod(self.levels)


@dataclass
class AutoregressiveConfig(ModelConfig):
    """A decoder-only transformer over [BOS, caption tokens, visual codes].

    ``tokenizer_run``: the trained tokenizer run whose weights are copied into this model when
    it is built (and saved in its own ``model.safetensors``); ``tokenizer``: that run's ``model``
    section and its visual modality's config, ``{"model": {...}, "modality": {...}}`` — filled from
    the run when left out; give it (copied from the run's ``config.yaml``) to make this run's
    ``config.yaml`` self-contained. The caption's loss weighs ``text_loss_weight`` (it makes the
    model a caption language model too, for unconditional samples); ``cond_dropout`` replaces
    the caption by the empty caption for that share of training samples, which classifier-free
    guidance needs. ``top_k``, ``top_p`` and ``cfg_scale`` are generation defaults."""

    kind: str = "autoregressive"
    tokenizer_run: str | None = None
    tokenizer: dict | None = None
    width: int = 256
    heads: int = 8
    layers: int = 6
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    text_loss_weight: float = 0.125
    cond_dropout: float = 0.1
    top_k: int | None = None
    top_p: float | None = None
    cfg_scale: float = 1.0

    def __post_init__(self) -> None:
        _check_width(self.width, self.heads)
        if self.layers < 1:
            raise ConfigError(f"model.layers must be >= 1, got {self.layers}")
        if self.tokenizer_run is None and self.tokenizer is None:
            raise ConfigError("model.tokenizer_run is required: train a tokenizer first, e.g. 'synesthesia "
                              "train configs/transformer/tokenizer-l5-image.yaml --out runs/tok-l5-image', "
                              "then set model.tokenizer_run: runs/tok-l5-image")
        if self.tokenizer is not None and set(self.tokenizer) != {"model", "modality"}:
            raise ConfigError("model.tokenizer must hold exactly 'model' (the tokenizer run's model section) "
                              f"and 'modality' (its visual modality's config); got keys {sorted(self.tokenizer)}")
        if not 0.0 <= self.cond_dropout < 1.0:
            raise ConfigError(f"model.cond_dropout must be in [0, 1), got {self.cond_dropout}")
        if self.text_loss_weight < 0:
            raise ConfigError(f"model.text_loss_weight must be >= 0, got {self.text_loss_weight}")
        if self.cfg_scale < 0:
            raise ConfigError(f"model.cfg_scale must be >= 0, got {self.cfg_scale}")
        _check_sampling(self.top_k, self.top_p)
