"""Video files, checked before they are decoded, and even frame sampling.

MP4, MOV, WebM, AVI and other ffmpeg formats are read through imageio-ffmpeg's own ffmpeg; GIFs
through Pillow. The header is read first: a frame over ``limits.video_pixels`` or a clip whose
duration x frame rate exceeds ``limits.video_frames`` is refused before a frame is decoded (and the
count is checked again while decoding, since headers can be wrong). With ``max_side``, ffmpeg
scales frames down while decoding (the shorter side to at most ``max_side``), so a 4K clip costs
no more memory than a small one. :func:`even_indices` picks T frames evenly over a clip, the first
and last included.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from synesthesia.limits import exceeded, get_limits
from synesthesia.modalities.base import ModalityError
from synesthesia.modalities.media import IMAGE_FORMATS, SOUND_FORMATS, check_file, unreadable


def even_indices(total: int, frames: int) -> np.ndarray:
    """``frames`` indices spread evenly over ``0 .. total - 1`` (first and last included)."""
    return np.linspace(0, total - 1, frames).round().astype(int)


def check_frames(count: float, what: str) -> None:
    if count > get_limits().video_frames:
        raise exceeded(what, count, "video_frames", " frames")


def check_frame_size(w: int, h: int, what: str) -> None:
    if w <= 0 or h <= 0:
        raise ModalityError(f"{what} has frames of {w}x{h} px: no pixels")
    if w * h > get_limits().video_pixels:
        raise exceeded(f"{what} ({w}x{h} px frames)", w * h, "video_pixels", " pixels per frame")


@contextlib.contextmanager
def _quiet_ffmpeg_logger() -> Iterator[None]:
    """imageio-ffmpeg logs a warning whenever frames are scaled on decoding, as asked here."""
    log = logging.getLogger("imageio_ffmpeg")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _scale_filter(max_side: int) -> list[str]:
    m = int(max_side)
    return ["-vf", f"scale='if(lt(iw,ih),min(iw,{m}),-1)':'if(lt(iw,ih),-1,min(ih,{m}))'"]


def _ffmpeg_frames(path: Path, found: str | None, max_side: int | None) -> np.ndarray:
    import imageio_ffmpeg

    params = (_scale_filter(max_side) if max_side else []) + ["-an"]
    with _quiet_ffmpeg_logger():
        gen = imageio_ffmpeg.read_frames(str(path), output_params=params)
        try:
            try:
                meta = next(gen)
            except (OSError, RuntimeError, StopIteration, ValueError) as err:
                raise unreadable(path, "video", found, err) from None
            check_frame_size(*meta["source_size"], f"video {path}")
            estimate = float(meta.get("fps") or 0) * float(meta.get("duration") or 0)
            check_frames(estimate, f"video {path} (by its header)")
            w, h = meta["size"]
            frames = []
            try:
                for k, raw in enumerate(gen):
                    if k >= get_limits().video_frames:
                        check_frames(k + 1, f"video {path}")
                    frames.append(np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3))
            except RuntimeError as err:
                raise unreadable(path, "video", found, err) from None
        finally:
            gen.close()
    if not frames:
        raise ModalityError(f"video file {path} holds no frames")
    return np.stack(frames)


def _gif_frames(path: Path, found: str | None, frames: int | None) -> np.ndarray:
    try:
        img = Image.open(path)
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        raise unreadable(path, "video", found, err) from None
    with img:
        check_frame_size(*img.size, f"GIF {path}")
        try:
            total = getattr(img, "n_frames", 1)
            check_frames(total, f"GIF {path}")
            out = []
            for k in (range(total) if frames is None else even_indices(total, frames)):
                img.seek(int(k))
                out.append(np.asarray(img.convert("RGB")))
        except (OSError, ValueError, SyntaxError, EOFError) as err:
            raise unreadable(path, "video", found, err) from None
    return np.stack(out)


def read_video(path: str | Path, frames: int | None = None, max_side: int | None = None) -> np.ndarray:
    """uint8 frames (T, H, W, 3) of a video file: all of them, or ``frames`` evenly spaced ones;
    with ``max_side``, MP4-like files are scaled on decoding so that the shorter side is at most
    ``max_side`` px (GIFs are read at their size)."""
    path, found = check_file(path, "video", refuse=(IMAGE_FORMATS | SOUND_FORMATS) - {"OGG file"})
    if found == "GIF" or (found is None and path.suffix.lower() == ".gif"):
        return _gif_frames(path, found, frames)
    clip = _ffmpeg_frames(path, found, max_side)
    return clip if frames is None else clip[even_indices(len(clip), frames)]
