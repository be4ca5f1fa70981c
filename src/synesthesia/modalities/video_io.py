"""Video files, checked before they are decoded, and even frame sampling.

MP4, MOV, WebM, AVI and other ffmpeg formats are read through imageio-ffmpeg's own ffmpeg (one
process per file, frames piped as raw RGB); GIFs through Pillow. The header is read first: a frame
over ``limits.video_pixels`` or a clip whose duration x frame rate exceeds ``limits.video_frames``
is refused before a frame is decoded, and ffmpeg never decodes more than ``limits.video_frames + 1``
frames (headers can be wrong). With ``max_side``, ffmpeg
scales frames down while decoding (the shorter side to at most ``max_side``), so a 4K clip costs
no more memory than a small one. :func:`even_indices` picks T frames evenly over a clip, the first
and last included.
"""

from __future__ import annotations

import re
import struct
import subprocess
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from synesthesia.limits import LimitExceeded, exceeded, get_limits
from synesthesia.modalities.base import ModalityError
from synesthesia.modalities.media import (
    IMAGE_FORMATS,
    SOUND_FORMATS,
    check_file,
    unreadable,
)


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


_DURATION = re.compile(rb"Duration: (\d+):(\d+):([\d.]+)")
_VIDEO = re.compile(rb"Stream #\d+:\d+.*?: Video: .*?[ ,](\d{1,6})x(\d{1,6})[ ,\[]")
_FPS = re.compile(rb"([\d.]+) (?:fps|tbr)")


def _scale_filter(max_side: int) -> list[str]:
    m = int(max_side)
    return ["-vf", f"scale='if(lt(iw,ih),min(iw,{m}),-1)':'if(lt(iw,ih),-1,min(ih,{m}))'"]


def _read_header(proc: subprocess.Popen) -> tuple[bytes, bytes]:
    """ffmpeg's stderr up to its output stream's line: (input part, output part). ffmpeg writes
    it before decoding a frame, so the limits are checked first."""
    head, out_part, in_output = b"", b"", False
    for line in iter(proc.stderr.readline, b""):           # type: ignore[union-attr]
        if line.startswith(b"Output #"):
            in_output = True
        if in_output:
            out_part += line
            if _VIDEO.search(line):
                break
        else:
            head += line
    return head, out_part


def _ffmpeg_frames(path: Path, found: str | None, max_side: int | None) -> np.ndarray:
    """Frames decoded by imageio-ffmpeg's ffmpeg in one process: its header read and checked
    first, at most ``limits.video_frames + 1`` frames decoded, scaled down by ffmpeg."""
    import imageio_ffmpeg

    limit = get_limits().video_frames
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-i", str(path), "-an",
           *(_scale_filter(max_side) if max_side else []), "-frames:v", str(limit + 1),
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        head, out_part = _read_header(proc)
        source, size = _VIDEO.search(head), _VIDEO.search(out_part)
        if source is None or size is None:
            proc.kill()
            detail = (head + proc.communicate()[1]).decode(errors="replace").strip().splitlines()
            raise unreadable(path, "video", found, ValueError(detail[-1] if detail else "no video stream"))
        check_frame_size(int(source[1]), int(source[2]), f"video {path}")
        duration, fps = _DURATION.search(head), _FPS.search(source.string[source.start():].split(b"\n")[0])
        if duration and fps:
            h, m, sec = duration.groups()
            check_frames(float(fps[1]) * (int(h) * 3600 + int(m) * 60 + float(sec)), f"video {path} (by its header)")
        raw, _ = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
        if not (proc.stdout.closed and proc.stderr.closed):          # type: ignore[union-attr]
            proc.communicate()
    w, h = int(size[1]), int(size[2])
    count = len(raw) // (w * h * 3)
    if count == 0:
        raise ModalityError(f"video file {path} holds no frames")
    check_frames(count, f"video {path}")
    return np.frombuffer(raw[:count * w * h * 3], dtype=np.uint8).reshape(count, h, w, 3)


def _gif_frames(path: Path, found: str | None, frames: int | None) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError as err:
        raise LimitExceeded(f"GIF {path} has frames larger than limits.video_pixels allows ({err})") from None
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
        except (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error) as err:
            raise unreadable(path, "video", found, err) from None     # a GIF cut short ends in either
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
