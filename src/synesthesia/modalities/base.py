"""The contract every modality follows.

A modality is four things kept together: a codec (raw value <-> tensor), default encoder and
decoder networks, a likelihood, and file reading/writing. Models never look inside a modality's
tensors; they only call these methods, so a user's own modality plugs in by subclassing.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from synesthesia.errors import SynesthesiaError

REFERENCE_ELEMENTS = 3 * 32 * 32

class ModalityError(SynesthesiaError):
    """Bad raw input for a modality; the message says what was wrong and what to do."""

class Modality(ABC):
    """Base class of image, text, audio and video.

    Subclasses set ``name`` and ``Config`` (a typed :class:`~synesthesia.config.Section` of their
    options, which become attributes) and implement the abstract methods. ``shape`` is the
    per-sample tensor shape the codec produces (without the batch dimension).
    """

    name: str = ""
    Config: ClassVar[type]
    feature_dim: int = 256
    # likelihood weight; None balances modalities by size (see :meth:`likelihood_weight`)
    weight: float | None = None
    # autoregressive decoders take the target during training: ``decoder(z, x)``
    autoregressive: bool = False

    # config field -> attribute, where the attribute has another name
    option_attributes: ClassVar[dict[str, str]] = {}

    def __init__(self, **options: Any) -> None:
        config = self.Config.from_dict(options, f"modalities.{self.name}")
        for f in dataclasses.fields(config):
            setattr(self, self.option_attributes.get(f.name, f.name), getattr(config, f.name))
        self.setup()

    def setup(self) -> None:
        """Fill the options left to the data (None) with defaults and check them together."""

    # -- codec -----------------------------------------------------------------------------
    @property
    @abstractmethod
    def shape(self) -> tuple[int, ...]:
        """Per-sample tensor shape made by :meth:`encode`."""

    @abstractmethod
    def encode(self, raws: Sequence[Any]) -> torch.Tensor:
        """Batch of raw values -> tensor ``(B, *shape)``."""

    def encode_data(self, raws: Sequence[Any]) -> torch.Tensor:
        """Training data -> tensor: as :meth:`encode`, except where a modality adapts in training
        data what it refuses at inference (text cuts over-long captions, with a warning)."""
        return self.encode(raws)

    @abstractmethod
    def decode(self, x: torch.Tensor) -> list[Any]:
        """Tensor ``(B, *shape)`` -> list of raw values."""

    def decode_batch(self, x: torch.Tensor) -> Any:
        """Tensor ``(B, *shape)`` -> the batch as one array in the world's raw layout (uint8
        images (B, H, W, 3), uint8 videos (B, T, H, W, 3), float32 waveforms (B, L)), or a list
        for modalities without one (text)."""
        return self.decode(x)

    # -- networks --------------------------------------------------------------------------
    @abstractmethod
    def build_encoder(self) -> nn.Module:
        """Network mapping ``x (B, *shape)`` to features ``(B, feature_dim)``."""

    @abstractmethod
    def build_decoder(self, latent_dim: int) -> nn.Module:
        """Network mapping ``z (B, latent_dim)`` to likelihood parameters."""

    # -- likelihood ------------------------------------------------------------------------
    @abstractmethod
    def log_likelihood(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``log p(x | params)`` summed over the sample's elements: shape ``(B,)``."""

    @abstractmethod
    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """The most likely ``x`` under ``params``: ``(B, *shape)``."""

    def draw(self, decoder: nn.Module, z: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """The output shown for latent ``z``: the likelihood's mean by default (autoregressive
        modalities decode step by step)."""
        return self.mean(decoder(z))

    def likelihood_weight(self) -> float:
        """The weight of ``log p(x | z)`` in the ELBO: ``weight`` when set, else
        ``REFERENCE_ELEMENTS / elements``, so that every modality counts as much as a 32x32 RGB
        image however many numbers it has (a caption of 20 tokens weighs about 150, an 8-frame
        video 1/8). Without it the largest modality decides what the latent encodes."""
        if self.weight is not None:
            return float(self.weight)
        return REFERENCE_ELEMENTS / math.prod(self.shape)

    # -- files -----------------------------------------------------------------------------
    @abstractmethod
    def read(self, path: str | Path) -> Any:
        """Read one raw value from a file."""

    @abstractmethod
    def write(self, raw: Any, path: str | Path) -> Path:
        """Write one raw value to a file (atomically) and return the path written."""

    # -- persistence -----------------------------------------------------------------------
    def config(self) -> dict:
        """Plain-data settings that rebuild this modality with ``type(self)(**config)`` (as JSON and
        YAML keep them: tuples are lists)."""
        values = {f.name: getattr(self, self.option_attributes.get(f.name, f.name))
                  for f in dataclasses.fields(self.Config)}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

    def save_assets(self, folder: Path) -> None:
        """Write extra files the modality needs (e.g. a tokenizer) into a run folder."""

    def load_assets(self, folder: Path) -> None:
        """Read what :meth:`save_assets` wrote."""

class InputAdjusted(UserWarning):
    """Raw input was adapted to what the model expects (resized, resampled, converted); the
    message says what was done so it is never silent."""

def note(message: str) -> None:
    """Warn that an input was adapted (see :class:`InputAdjusted`)."""

    warnings.warn(message, InputAdjusted, stacklevel=3)
