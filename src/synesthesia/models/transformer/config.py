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

from synesthesia.config import ConfigError, Section

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
class CaptionerConfig(Section):
    """image / video / sound -> text: an encoder per source and a causal text decoder."""

    kind: str = "captioner"            # the transformer kind: captioner, tokenizer or autoregressive
    sources: list[str] | None = None   # modalities captioned, one encoder each (default: every one but text)
    width: int = 192                   # model width
    heads: int = 4                     # attention heads
    encoder_layers: int = 2            # transformer blocks per source encoder
    decoder_layers: int = 3            # blocks of the text decoder (causal self-attention + cross-attention)
    mlp_ratio: float = 4.0             # hidden width of the blocks' MLPs, as a multiple of width
    dropout: float = 0.0               # dropout in the blocks
    stem_channels: int = 32            # width of the convolutional stems that tokenise the sources
    patch: int = 4                     # image patch side in pixels
    video_patch: int = 8               # video tubelet side in pixels
    tubelet: int = 2                   # frames per video tubelet
    audio_stride: int = 2              # mel frames per sound token
    label_smoothing: float = 0.0       # label smoothing of the caption cross-entropy
    decoding: str = "greedy"           # default decoding: greedy, beam or sample
    beam_size: int = 4                 # beams of beam search
    length_penalty: float = 0.0        # beam search: score / length ** length_penalty
    top_k: int | None = None           # sampling: keep the k most likely tokens (null: all)
    top_p: float | None = None         # sampling: keep the smallest set of tokens with this probability (null: all)

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
class TokenizerConfig(Section):
    """An FSQ autoencoder (Mentzer et al. 2023) turning images or videos into grids of codes."""

    kind: str = "tokenizer"            # the transformer kind: captioner, tokenizer or autoregressive
    levels: list[int] = field(default_factory=lambda: [8, 5, 5, 5])  # FSQ levels per latent channel; the codebook has their product
    channels: int = 64                 # width of the convolutional towers
    blocks: int = 1                    # residual blocks per resolution
    downsample: int = 4                # pixels per code along each side
    time_downsample: int = 2           # frames per code (videos)
    l1_weight: float = 0.0             # weight of the mean absolute error added to the squared error

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
class AutoregressiveConfig(Section):
    """A decoder-only transformer over [BOS, caption tokens, visual codes] (DALL-E, VideoGPT)."""

    kind: str = "autoregressive"       # the transformer kind: captioner, tokenizer or autoregressive
    tokenizer_run: str | None = None   # trained tokenizer run whose weights are copied in when the model is built
    tokenizer: dict | None = None      # that run's model section and visual modality: {model: ..., modality: ...} (filled from the run)
    width: int = 256                   # model width
    heads: int = 8                     # attention heads
    layers: int = 6                    # transformer blocks
    mlp_ratio: float = 4.0             # hidden width of the blocks' MLPs, as a multiple of width
    dropout: float = 0.0               # dropout in the blocks
    text_loss_weight: float = 0.125    # weight of the caption's cross-entropy (a caption language model for joint samples)
    cond_dropout: float = 0.1          # share of training captions replaced by the empty one (classifier-free guidance)
    top_k: int | None = None           # sampling default: keep the k most likely codes (null: all)
    top_p: float | None = None         # sampling default: nucleus probability (null: all)
    cfg_scale: float = 1.0             # sampling default: classifier-free guidance scale (1: none)

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
