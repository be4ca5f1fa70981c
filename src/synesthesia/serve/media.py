"""Uploaded media in, generated media out.

Inputs arrive as bytes (a multipart upload or base64 in JSON). Each is checked from its header
first (format, pixel count, duration, frame count) and only then decoded, so a small file that
claims a huge image or an hour of sound is refused before it costs memory. Outputs are encoded
as PNG, WAV, GIF or MP4 bytes.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from synesthesia.errors import SynesthesiaError
from synesthesia.modalities.files import write_mp4

IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
MEDIA_TYPES = {"image": "image/png", "audio": "audio/wav", "gif": "image/gif", "mp4": "video/mp4"}

class MediaError(SynesthesiaError):
    """An upload that is not a readable image, sound or video, or exceeds a limit."""

@dataclass(frozen=True)
class MediaLimits:
    """What an upload may hold, checked from its header before decoding."""

    max_pixels: int = 16_000_000       # width x height of an image or of one video frame
    max_side: int = 8192               # largest width or height
    max_audio_seconds: float = 30.0    # longest sound
    max_video_frames: int = 600        # most video frames
    max_video_pixels: int = 50_000_000 # frames x width x height of a video (what it costs decoded)

    @property
    def max_audio_samples(self) -> int:
        """Samples of all channels together: the duration of stereo sound at 48 kHz."""
        return int(self.max_audio_seconds * 96_000)

def from_base64(data: str, what: str) -> bytes:
    """Strict base64 (a ``data:...;base64,`` prefix is allowed) -> bytes."""
    if not isinstance(data, str) or not data:
        raise MediaError(f"{what} must be a non-empty base64 string")
    if data.startswith("data:") and "," in data:
        data = data.split(",", 1)[1]
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as err:
        raise MediaError(f"{what} is not valid base64: {err}") from None

def decode_input(modality: str, data: bytes, limits: MediaLimits, temp_dir: Path) -> Any:
    """Bytes of an uploaded ``image``, ``audio`` or ``video`` -> the raw value the pipeline takes."""
    if not data:
        raise MediaError(f"the {modality} upload is empty")
    if modality == "image":
        return decode_image(data, limits)
    if modality == "audio":
        return decode_audio(data, limits)
    if modality == "video":
        return decode_video(data, limits, temp_dir)
    raise MediaError(f"{modality} is not a media modality; give it as text")

def _check_frames(frames: int, width: int, height: int, limits: MediaLimits, about: str = "") -> None:
    if frames > limits.max_video_frames:
        raise MediaError(f"the video has {about}{frames} frames; the server takes at most {limits.max_video_frames}")
    if frames * width * height > limits.max_video_pixels:
        raise MediaError(f"the video has {about}{frames} frames of {width}x{height} pixels; the server takes at most "
                         f"{limits.max_video_pixels:,} pixels in all (fewer frames or smaller ones)")

def _check_size(width: int, height: int, limits: MediaLimits, what: str) -> None:
    if width < 1 or height < 1:
        raise MediaError(f"the {what} has no pixels ({width}x{height})")
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise MediaError(f"the {what} is {width}x{height} pixels; the server takes at most "
                         f"{limits.max_side} pixels a side and {limits.max_pixels:,} in all")

def decode_image(data: bytes, limits: MediaLimits) -> Image.Image:
    """PNG, JPEG, GIF (first frame), BMP or WebP bytes -> an RGB PIL image."""
    try:
        img = Image.open(io.BytesIO(data))            # reads the header only
    except Image.DecompressionBombError:
        raise MediaError(f"the image claims far more pixels than the server takes ({limits.max_pixels:,})") from None
    except Exception as err:
        raise MediaError(f"the image could not be read ({type(err).__name__}); "
                         f"send {', '.join(IMAGE_FORMATS)}") from None
    if img.format not in IMAGE_FORMATS:
        raise MediaError(f"images in {img.format} are not accepted; send {', '.join(IMAGE_FORMATS)}")
    _check_size(*img.size, limits, "image")
    try:
        img.load()
        return img.convert("RGB")
    except Exception as err:
        raise MediaError(f"the image is damaged and could not be decoded ({type(err).__name__})") from None

def decode_audio(data: bytes, limits: MediaLimits) -> tuple[np.ndarray, int]:
    """WAV, FLAC or OGG bytes -> ``(float32 waveform, sample_rate)``."""
    import soundfile as sf

    try:
        info = sf.info(io.BytesIO(data))              # reads the header only
    except Exception as err:
        raise MediaError(f"the sound could not be read ({type(err).__name__}); send WAV, FLAC or OGG") from None
    if info.samplerate < 1 or info.channels < 1 or info.frames < 1:
        raise MediaError("the sound is empty")
    seconds = info.frames / info.samplerate
    if (seconds > limits.max_audio_seconds or info.channels > 8 or info.samplerate > 192_000
            or info.frames * info.channels > limits.max_audio_samples):
        raise MediaError(f"the sound is {seconds:.1f} s with {info.channels} channels at {info.samplerate} Hz; "
                         f"the server takes at most {limits.max_audio_seconds:g} s of stereo at 48 kHz "
                         "(8 channels, 192 kHz at most)")
    try:
        wave, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    except Exception as err:
        raise MediaError(f"the sound is damaged and could not be decoded ({type(err).__name__})") from None
    return wave, int(rate)

def decode_video(data: bytes, limits: MediaLimits, temp_dir: Path) -> np.ndarray:
    """GIF, MP4 or WebM bytes -> uint8 frames (T, H, W, 3)."""
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return _decode_gif(data, limits)
    if data[4:8] == b"ftyp" or data[:4] == b"\x1aE\xdf\xa3":
        return _decode_ffmpeg(data, limits, temp_dir)
    raise MediaError("the video is neither GIF, MP4 nor WebM")

def _decode_gif(data: bytes, limits: MediaLimits) -> np.ndarray:
    try:
        img = Image.open(io.BytesIO(data))
        _check_size(*img.size, limits, "video frame")
        count = getattr(img, "n_frames", 1)           # walks the frame headers, decodes nothing
        _check_frames(count, *img.size, limits)
        frames = []
        for k in range(count):
            img.seek(k)
            frames.append(np.asarray(img.convert("RGB")))
        return np.stack(frames)
    except MediaError:
        raise
    except Exception as err:
        raise MediaError(f"the GIF could not be decoded ({type(err).__name__})") from None

def _decode_ffmpeg(data: bytes, limits: MediaLimits, temp_dir: Path) -> np.ndarray:
    import imageio_ffmpeg

    fd, name = tempfile.mkstemp(suffix=".video", dir=temp_dir)
    reader = None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        reader = imageio_ffmpeg.read_frames(name)
        meta = next(reader)                            # the container's header, nothing decoded
        width, height = meta["size"]
        _check_size(width, height, limits, "video frame")
        claimed = round(float(meta.get("fps") or 0) * float(meta.get("duration") or 0))
        _check_frames(claimed, width, height, limits, about="about ")
        frames = []
        for raw in reader:                             # the header may understate: count as we go
            _check_frames(len(frames) + 1, width, height, limits, about="at least ")
            frames.append(np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3))
        if not frames:
            raise MediaError("the video has no frames")
        return np.stack(frames)
    except MediaError:
        raise
    except Exception as err:
        raise MediaError(f"the video could not be decoded ({type(err).__name__})") from None
    finally:
        if reader is not None:
            reader.close()
        Path(name).unlink(missing_ok=True)

# -- outputs ----------------------------------------------------------------------------------
def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()

def wav_bytes(sound: tuple[np.ndarray, int]) -> bytes:
    import soundfile as sf

    wave, rate = sound
    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(wave, dtype=np.float32), -1, 1), int(rate), subtype="PCM_16", format="WAV")
    return buf.getvalue()

def gif_bytes(frames: list, fps: int) -> bytes:
    images = [f if isinstance(f, Image.Image) else Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return buf.getvalue()

def mp4_bytes(frames: list, fps: int, temp_dir: Path) -> bytes:

    fd, name = tempfile.mkstemp(suffix=".mp4", dir=temp_dir)
    os.close(fd)
    try:
        write_mp4(np.stack([np.asarray(f.convert("RGB") if isinstance(f, Image.Image) else f) for f in frames]),
                  name, fps=fps)
        return Path(name).read_bytes()
    finally:
        Path(name).unlink(missing_ok=True)

def encode_output(modality: str, raw: Any, video_format: str, fps: int, temp_dir: Path) -> dict:
    """One generated value -> ``{"media_type", "data"}`` (base64) or ``{"text"}``."""
    if modality == "text":
        return {"media_type": "text/plain", "text": str(raw)}
    if modality == "image":
        data, kind = png_bytes(raw), "image"
    elif modality == "audio":
        data, kind = wav_bytes(raw), "audio"
    elif modality == "video":
        kind = video_format
        data = gif_bytes(raw, fps) if kind == "gif" else mp4_bytes(raw, fps, temp_dir)
    else:
        raise MediaError(f"no encoding for {modality!r} outputs")
    return {"media_type": MEDIA_TYPES[kind], "data": base64.b64encode(data).decode("ascii")}
