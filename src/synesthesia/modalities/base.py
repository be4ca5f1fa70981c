"""The contract every modality follows.

A modality is four things kept together: a codec (raw value <-> tensor), default encoder and
decoder networks, a likelihood, and file reading/writing. Models never look inside a modality's
tensors; they only call these methods, so a user's own modality plugs in by subclassing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from synesthesia.errors import SynesthesiaError


class ModalityError(SynesthesiaError):
    """Bad raw input for a modality; the message says what was wrong and what to do."""


class Modality(ABC):
    """Base class of image, text, audio and video.

    Subclasses set ``name`` and ``feature_dim`` and implement the abstract methods. ``shape`` is the
    per-sample tensor shape the codec produces (without the batch dimension).
    """

    name: str = ""
    feature_dim: int = 256

    # -- codec -----------------------------------------------------------------------------
    @property
    @abstractmethod
    def shape(self) -> tuple[int, ...]:
        """Per-sample tensor shape made by :meth:`encode`."""

    @abstractmethod
    def encode(self, raws: Sequence[Any]) -> torch.Tensor:
        """Batch of raw values -> tensor ``(B, *shape)``."""

    @abstractmethod
    def decode(self, x: torch.Tensor) -> list[Any]:
        """Tensor ``(B, *shape)`` -> list of raw values."""

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

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A draw of ``x`` under ``params``; defaults to the mean (what users want to see)."""
        return self.mean(params)

    # -- files -----------------------------------------------------------------------------
    @abstractmethod
    def read(self, path: str | Path) -> Any:
        """Read one raw value from a file."""

    @abstractmethod
    def write(self, raw: Any, path: str | Path) -> Path:
        """Write one raw value to a file (atomically) and return the path written."""

    # -- persistence -----------------------------------------------------------------------
    def config(self) -> dict:
        """Plain-data settings that rebuild this modality with ``type(self)(**config)``."""
        return {}

    def save_assets(self, folder: Path) -> None:
        """Write extra files the modality needs (e.g. a tokenizer) into a run folder."""

    def load_assets(self, folder: Path) -> None:
        """Read what :meth:`save_assets` wrote."""
