"""Videos: T RGB frames ``(T, 3, S, S)`` in [0, 1].

A raw video is a list of PIL frames, a uint8 array (T, H, W, 3) or a file path (MP4, MOV, WebM,
AVI or any format imageio-ffmpeg's ffmpeg reads; GIF through Pillow). Input policy: a file is
checked from its header against ``limits.video_frames`` and ``limits.video_pixels`` and its frames
scaled down while decoding; a clip of any frame rate and length is sampled to T frames spread
evenly over it (first and last included); frames of another size or mode are adapted as images
are (see :mod:`synesthesia.modalities.imaging`: ``fit`` crop, pad or squash). Each adaptation is
warned once per batch (:class:`InputAdjusted`). Networks are 3-D convolutions over (time, height,
width).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from synesthesia.config import Section
from synesthesia.modalities.base import Modality, ModalityError
from synesthesia.modalities.files import write_gif, write_mp4
from synesthesia.modalities.imaging import check_fit, to_rgb_array
from synesthesia.modalities.likelihoods import gaussian_log_prob
from synesthesia.modalities.media import Notes, batch_notes
from synesthesia.modalities.nets import ConvDecoder, ConvEncoder, stage_count
from synesthesia.modalities.video_io import check_frames, even_indices, read_video

READ_THREADS = 8                     # video files decoded at once (mostly waiting on ffmpeg processes)


def time_strides(frames: int, stages: int) -> list[int]:
    """Halve the time axis at each stage, from the first, while it is even and above 2: the
    large early feature maps are the expensive ones, and a 4-frame kernel still sees motion."""
    strides, t = [1] * stages, frames
    for i in range(stages):
        if t > 2 and t % 2 == 0:
            strides[i] = 2
            t //= 2
    return strides


@dataclass
class VideoConfig(Section):
    size: int | None = None            # frame side in pixels, 4 times a power of two (default: the data's, else 32)
    frames: int | None = None          # frames per clip, sampled evenly over longer clips (default: the data's, else 8)
    channels: int = 16                 # width of the default 3-D networks' first stage
    feature_dim: int = 256             # encoder output features
    scale: float = 0.1                 # standard deviation of the Gaussian likelihood on [0, 1] pixels
    weight: float | None = None        # likelihood weight (default: counts as much as a 32x32 RGB image)
    fps: int = 8                       # frames per second of written clips
    residual: bool = False             # a residual block per stage of the default networks
    fit: str = "crop"                  # how frames of another size become S x S: crop (centre), pad or squash
    background: list[int] = field(default_factory=lambda: [255, 255, 255])  # RGB behind transparency and padding


class VideoModality(Modality):
    """Short clips with a Gaussian likelihood of fixed ``scale`` on [0, 1] pixel values."""

    name = "video"

    Config = VideoConfig

    def setup(self) -> None:
        self.size = 32 if self.size is None else self.size
        self.frames = 8 if self.frames is None else self.frames
        try:
            self.stages = stage_count(self.size)
        except ValueError:
            raise ModalityError(f"video size must be 4 times a power of two (16, 32, 64); got {self.size}") from None
        if self.frames < 2:
            raise ModalityError(f"a video needs at least 2 frames; got {self.frames}")
        self.fit, self.background = check_fit(self.fit, self.background)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.frames, 3, self.size, self.size)

    # -- codec -------------------------------------------------------------------------------
    def frames_array(self, raw: Any, notes: Notes | None = None) -> np.ndarray:
        """A raw video -> uint8 (T, S, S, 3) by the input policy."""
        notes = notes or Notes("video", 1)
        if isinstance(raw, (str, Path)):
            raw = read_video(raw, max_side=2 * self.size)
        if isinstance(raw, np.ndarray):
            if raw.ndim != 4:
                raise ModalityError(f"video arrays must be uint8 (T, H, W, 3); got shape {raw.shape}")
            raw = list(raw)
        if not isinstance(raw, (list, tuple)) or len(raw) == 0:
            raise ModalityError("a video must be a file path, a non-empty list of frames or a uint8 "
                                f"(T, H, W, 3) array; got {type(raw).__name__}")
        check_frames(len(raw), "a video")
        if len(raw) != self.frames:
            notes.add(f"sampled to {self.frames} evenly spaced frames", f"{len(raw)} frames")
            raw = [raw[k] for k in even_indices(len(raw), self.frames)]
        return np.stack([to_rgb_array(f, self.size, notes, self.fit, self.background, "video frame")
                         for f in raw])

    def encode(self, raws: Sequence[Any]) -> torch.Tensor:
        raws = self._read_files(raws)
        with batch_notes("video", len(raws)) as notes:
            clips = []
            for r in raws:
                notes.next_item()
                clips.append(self.frames_array(r, notes))
        arr = np.stack(clips)                                                   # (B, T, S, S, 3)
        return torch.from_numpy(arr).permute(0, 1, 4, 2, 3).float().div_(255.0)

    def _read_files(self, raws: Sequence[Any]) -> list:
        """Paths decoded by ffmpeg processes, several at once (each file costs a process start);
        the first error is raised as reading them one by one would."""
        paths = [i for i, r in enumerate(raws) if isinstance(r, (str, Path))]
        if len(paths) < 2:
            return list(raws)
        with ThreadPoolExecutor(min(READ_THREADS, len(paths))) as pool:
            futures = {i: pool.submit(read_video, raws[i], None, 2 * self.size) for i in paths}
        return [futures[i].result() if i in futures else r for i, r in enumerate(raws)]

    def decode_batch(self, x: torch.Tensor) -> np.ndarray:
        return (x.float().clamp(0, 1).permute(0, 1, 3, 4, 2).cpu().numpy() * 255 + 0.5).astype(np.uint8)

    def decode(self, x: torch.Tensor) -> list[list[Image.Image]]:
        return [[Image.fromarray(f) for f in clip] for clip in self.decode_batch(x)]

    # -- networks: (B, T, 3, S, S) <-> (B, 3, T, S, S) around 3-D convolutions -------------------
    def build_encoder(self) -> nn.Module:
        return _TimeFirst(ConvEncoder(3, 3, (self.frames, self.size, self.size), self.stages, self.channels,
                                      self.feature_dim, time_strides=time_strides(self.frames, self.stages),
                                      residual=self.residual), encoder=True)

    def build_decoder(self, latent_dim: int) -> nn.Module:
        return _TimeFirst(ConvDecoder(3, latent_dim, 3, (self.frames, self.size, self.size), self.stages,
                                      self.channels, time_strides=time_strides(self.frames, self.stages),
                                      residual=self.residual), encoder=False)

    def log_likelihood(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(params, x, self.scale)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        # the decoder's output is the mean itself: a squashing sigmoid saturates and can leave a
        # decoder stuck on the background; decoding clamps to [0, 1]
        return params

    # -- files -------------------------------------------------------------------------------
    def read(self, path: str | Path) -> np.ndarray:
        """The model's T frames, evenly spaced over the file's clip, at the file's size."""
        return read_video(path, frames=self.frames)

    def write(self, raw: Any, path: str | Path) -> Path:
        frames = np.stack([np.asarray(f, dtype=np.uint8) for f in raw])
        writer = write_gif if Path(path).suffix.lower() == ".gif" else write_mp4
        return writer(frames, path, fps=self.fps)



class _TimeFirst(nn.Module):
    """Swap the frame and channel axes around a 3-D tower: the modality's tensors are
    (B, T, C, H, W), 3-D convolutions want (B, C, T, H, W)."""

    def __init__(self, net: nn.Module, encoder: bool) -> None:
        super().__init__()
        self.net, self.encoder = net, encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoder:
            return self.net(x.transpose(1, 2))              # (B, T, 3, S, S) -> features
        return self.net(x).transpose(1, 2)                  # z -> (B, T, 3, S, S)
