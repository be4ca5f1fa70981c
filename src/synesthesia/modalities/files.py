"""Writing media files (PNG or any Pillow format, WAV, MP4, GIF) and the readers' entry points.

Every writer is atomic (temporary file, then rename). Arrays are uint8 ``(H, W, 3)`` images,
uint8 ``(T, H, W, 3)`` videos and float32 mono waveforms in [-1, 1]. The readers, which check
every file against :mod:`synesthesia.limits` before decoding it, live in
:mod:`~synesthesia.modalities.imaging`, :mod:`~synesthesia.modalities.sound_io` and
:mod:`~synesthesia.modalities.video_io`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from synesthesia.io import atomic_path
from synesthesia.modalities.imaging import read_image
from synesthesia.modalities.sound_io import read_audio
from synesthesia.modalities.video_io import read_video

__all__ = ["read_audio", "read_image", "read_video", "write_gif", "write_mp4", "write_png", "write_wav"]


def write_png(image: np.ndarray | Image.Image, path: str | Path) -> Path:
    """Write an image; the format follows the extension (PNG when there is none)."""
    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
    fmt = (Path(path).suffix.lstrip(".") or "png").upper().replace("JPG", "JPEG")
    with atomic_path(path) as tmp:
        img.save(tmp, format=fmt)
    return Path(path)


def write_wav(wave: np.ndarray, sample_rate: int, path: str | Path) -> Path:
    """Write a mono float waveform as 16-bit PCM WAV."""
    import soundfile as sf

    data = np.clip(np.asarray(wave, dtype=np.float32), -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), data, int(sample_rate), subtype="PCM_16", format="WAV")
    return Path(path)


def _even_frames(frames: np.ndarray) -> np.ndarray:
    """Pad H and W to even sizes (H.264 with yuv420p needs them)."""
    t, h, w, c = frames.shape
    if h % 2 == 0 and w % 2 == 0:
        return frames
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def write_mp4(frames: np.ndarray, path: str | Path, fps: int = 8) -> Path:
    """Write uint8 frames (T, H, W, 3) as H.264 MP4 through imageio-ffmpeg's own ffmpeg."""
    import imageio.v2 as imageio

    frames = _even_frames(np.asarray(frames, dtype=np.uint8))
    with atomic_path(path) as tmp:
        writer = imageio.get_writer(str(tmp), format="FFMPEG", fps=fps, codec="libx264",
                                    pixelformat="yuv420p", macro_block_size=1,
                                    ffmpeg_log_level="error", output_params=["-crf", "12"])
        try:
            for f in frames:
                writer.append_data(f)
        finally:
            writer.close()
    return Path(path)


def write_gif(frames: np.ndarray, path: str | Path, fps: int = 8) -> Path:
    """Write uint8 frames (T, H, W, 3) as a looping GIF."""
    images = [Image.fromarray(f) for f in np.asarray(frames, dtype=np.uint8)]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(1000 / fps), loop=0)
    return Path(path)
