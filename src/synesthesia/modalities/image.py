"""Images: RGB tensors (3, S, S) in [0, 1].

Input policy (:mod:`synesthesia.modalities.imaging`): a file is checked against the limits from
its header and a large JPEG decoded at a reduced scale; any mode is converted to RGB (transparency
composited on ``background``, 16-bit greyscale scaled to 8 bits, EXIF rotation applied); any size
is brought to S x S by ``fit``: ``crop`` (default: shorter side to S, then the centre), ``pad``
(longer side to S, the rest ``background``) or ``squash`` (aspect not kept). What was done is
warned once per batch (:class:`InputAdjusted`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from synesthesia.config import Section
from synesthesia.modalities.base import Modality, ModalityError
from synesthesia.modalities.files import write_png
from synesthesia.modalities.imaging import check_fit, open_image, to_rgb_array
from synesthesia.modalities.likelihoods import gaussian_log_prob
from synesthesia.modalities.media import batch_notes
from synesthesia.modalities.nets import ConvDecoder, ConvEncoder, stage_count


@dataclass
class ImageConfig(Section):
    size: int | None = None            # side in pixels, 4 times a power of two (default: the data's, else 32)
    channels: int = 32                 # width of the default networks' first stage (doubling per stage)
    feature_dim: int = 256             # encoder output features
    scale: float = 0.1                 # standard deviation of the Gaussian likelihood on [0, 1] pixels
    weight: float | None = None        # likelihood weight (default: counts as much as a 32x32 RGB image)
    residual: bool = False             # a residual block per stage of the default networks
    fit: str = "crop"                  # how another size becomes S x S: crop (centre), pad or squash
    background: list[int] = field(default_factory=lambda: [255, 255, 255])  # RGB behind transparency and padding


class ImageModality(Modality):
    """RGB images with a Gaussian likelihood of fixed ``scale`` on [0, 1] pixel values."""

    name = "image"

    Config = ImageConfig

    def setup(self) -> None:
        self.size = 32 if self.size is None else self.size
        try:
            stage_count(self.size)
        except ValueError:
            raise ModalityError(f"image size must be 4 times a power of two (16, 32, 64, 128); got {self.size}") from None
        self.fit, self.background = check_fit(self.fit, self.background)

    @property
    def shape(self) -> tuple[int, ...]:
        return (3, self.size, self.size)

    def encode(self, raws: Sequence[Any]) -> torch.Tensor:
        with batch_notes("image", len(raws)) as notes:
            arrays = []
            for r in raws:
                notes.next_item()
                arrays.append(to_rgb_array(r, self.size, notes, self.fit, self.background))
        arr = np.stack(arrays)                                                   # (B, S, S, 3)
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
        """The image as stored (a large JPEG decoded at the smallest scale that covers the
        model's size)."""
        return open_image(path, self.size, self.fit)

    def write(self, raw: Image.Image | np.ndarray, path: str | Path) -> Path:
        return write_png(raw, path)

