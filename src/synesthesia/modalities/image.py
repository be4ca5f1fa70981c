"""Images: RGB tensors (3, S, S) in [0, 1].

Input policy: an image of another mode is converted to RGB and one of another size is resized
(bilinear, with antialiasing) to S x S; both with an :class:`InputAdjusted` warning naming what
was done. Non-square images are resized without cropping, so they are stretched: crop them first
if that matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from synesthesia.config import Section
from synesthesia.modalities.base import Modality, ModalityError, note
from synesthesia.modalities.files import read_image, write_png
from synesthesia.modalities.likelihoods import gaussian_log_prob
from synesthesia.modalities.nets import ConvDecoder, ConvEncoder, stage_count


def to_rgb_array(raw: Any, size: int, what: str = "image") -> np.ndarray:
    """A PIL image, a path or a uint8 array (H, W, 3) -> uint8 (size, size, 3), with notes."""
    if isinstance(raw, (str, Path)):
        raw = read_image(raw)
    if isinstance(raw, np.ndarray):
        if raw.dtype != np.uint8 or raw.ndim != 3 or raw.shape[2] != 3:
            raise ModalityError(f"{what} arrays must be uint8 (H, W, 3); got {raw.dtype} {raw.shape}")
        raw = Image.fromarray(raw)
    if not isinstance(raw, Image.Image):
        raise ModalityError(f"an {what} must be a PIL image, a file path or a uint8 (H, W, 3) array; "
                            f"got {type(raw).__name__}")
    if raw.mode != "RGB":
        note(f"{what} mode {raw.mode} converted to RGB")
        raw = raw.convert("RGB")
    if raw.size != (size, size):
        note(f"{what} of {raw.size[0]}x{raw.size[1]} px resized to {size}x{size} px (the model's size)")
        raw = raw.resize((size, size), Image.BILINEAR, reducing_gap=None)
    return np.asarray(raw, dtype=np.uint8)


@dataclass
class ImageConfig(Section):
    size: int | None = None            # side in pixels, 4 times a power of two (default: the data's, else 32)
    channels: int = 32                 # width of the default networks' first stage (doubling per stage)
    feature_dim: int = 256             # encoder output features
    scale: float = 0.1                 # standard deviation of the Gaussian likelihood on [0, 1] pixels
    weight: float | None = None        # likelihood weight (default: counts as much as a 32x32 RGB image)
    residual: bool = False             # a residual block per stage of the default networks


class ImageModality(Modality):
    """RGB images with a Gaussian likelihood of fixed ``scale`` on [0, 1] pixel values."""

    name = "image"
    Config = ImageConfig

    def setup(self) -> None:
        self.size = 32 if self.size is None else self.size
        try:
            stage_count(self.size)
        except ValueError:
            raise ModalityError(f"image size must be 4 times a power of two (16, 32, 64, 128); got {self.size}")

    @property
    def shape(self) -> tuple[int, ...]:
        return (3, self.size, self.size)

    def encode(self, raws: Sequence[Any]) -> torch.Tensor:
        arr = np.stack([to_rgb_array(r, self.size) for r in raws])              # (B, S, S, 3)
        return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0)    # (B, 3, S, S)

    def decode_batch(self, x: torch.Tensor) -> np.ndarray:
        return (x.float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)

    def decode(self, x: torch.Tensor) -> list[Image.Image]:
        return [Image.fromarray(a) for a in self.decode_batch(x)]

    def build_encoder(self) -> nn.Module:
        return ConvEncoder(2, 3, (self.size, self.size), stage_count(self.size), self.channels,
                           self.feature_dim, residual=self.residual)

    def build_decoder(self, latent_dim: int) -> nn.Module:
        return ConvDecoder(2, latent_dim, 3, (self.size, self.size), stage_count(self.size),
                           self.channels, residual=self.residual)

    def log_likelihood(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(params, x, self.scale)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        # the decoder's output is the mean itself: a squashing sigmoid saturates and can leave a
        # decoder stuck on the background; decoding clamps to [0, 1]
        return params

    def read(self, path: str | Path) -> Image.Image:
        return read_image(path)

    def write(self, raw: Image.Image | np.ndarray, path: str | Path) -> Path:
        return write_png(raw, path)

