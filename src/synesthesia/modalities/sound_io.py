"""Sound files and waveforms, checked before they are read.

:func:`sound_info` reads a file's header (soundfile/libsndfile: WAV, FLAC, OGG, and MP3 where the
installed libsndfile reads it) and refuses, before a sample is read, a file over
``limits.audio_seconds`` or ``limits.audio_channels`` or with a rate outside
``limits.min_sample_rate .. limits.max_sample_rate``. :func:`read_sound` then reads only the part
a model needs (``seconds`` from the start, or from the middle with ``cut="centre"``), so a long
file costs no more than a short one. NaN or infinite samples are refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synesthesia.limits import LimitExceeded, exceeded, get_limits
from synesthesia.modalities.base import ModalityError
from synesthesia.modalities.media import IMAGE_FORMATS, check_file, unreadable

CUTS = ("start", "centre")


@dataclass
class SoundInfo:
    frames: int              # samples per channel the file holds
    rate: int                # Hz
    channels: int

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


def check_rate(rate: float, what: str) -> int:
    """A sample rate within the limits, as an int."""
    limits = get_limits()
    if not isinstance(rate, (int, float, np.integer, np.floating)) or not math.isfinite(rate) or rate <= 0:
        raise ModalityError(f"{what} has sample rate {rate!r}; give a positive number of Hz")
    if rate < limits.min_sample_rate or rate > limits.max_sample_rate:
        bound = "min_sample_rate" if rate < limits.min_sample_rate else "max_sample_rate"
        raise LimitExceeded(f"{what} is at {rate:g} Hz, outside {limits.min_sample_rate:,}.."
                            f"{limits.max_sample_rate:,} Hz (limits.{bound}); resample it, or change "
                            f"the limit with --set limits.{bound}=... if the rate is right")
    return int(round(rate))


def check_channels(channels: int, what: str) -> None:
    if channels > get_limits().audio_channels:
        raise exceeded(what, channels, "audio_channels", " channels")


def check_finite(wave: np.ndarray, what: str) -> None:
    bad = int(np.size(wave) - np.isfinite(wave).sum())
    if bad:
        raise ModalityError(f"{what} holds {bad:,} NaN or infinite sample(s); clean the waveform "
                            "(e.g. np.nan_to_num) before giving it")


def sound_info(path: str | Path) -> tuple[SoundInfo, Path]:
    """The header of a sound file, checked against the limits (nothing is decoded)."""
    import soundfile as sf

    path, found = check_file(path, "sound", refuse=IMAGE_FORMATS | {"GIF", "MP4/MOV video", "AVI video",
                                                                    "Matroska/WebM video"})
    try:
        raw = sf.info(str(path))
    except (RuntimeError, OSError, ValueError, TypeError) as err:   # LibsndfileError is a RuntimeError
        raise unreadable(path, "sound", found, err) from None
    info = SoundInfo(int(raw.frames), int(raw.samplerate), int(raw.channels))
    if info.frames <= 0 or info.channels <= 0:
        raise ModalityError(f"sound file {path} holds no samples")
    check_rate(info.rate, f"sound file {path}")
    check_channels(info.channels, f"sound file {path}")
    if info.seconds > get_limits().audio_seconds:
        raise exceeded(f"sound file {path} ({_clock(info.seconds)} long)", info.seconds, "audio_seconds", " s")
    return info, path


def read_sound(path: str | Path, seconds: float | None = None,
               cut: str = "start") -> tuple[np.ndarray, int, SoundInfo]:
    """``(float32 waveform (L,) or (L, C), rate, header)``: the whole file, or only the ``seconds``
    a model keeps (from the start, or centred with ``cut="centre"``)."""
    import soundfile as sf

    info, path = sound_info(path)
    start, frames = 0, info.frames
    if seconds is not None:
        frames = min(info.frames, max(1, math.ceil(seconds * info.rate)))
        start = (info.frames - frames) // 2 if cut == "centre" else 0
    try:
        wave, rate = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=False)
    except (RuntimeError, OSError, ValueError, TypeError) as err:
        raise unreadable(path, "sound", None, err) from None
    if len(wave) == 0:
        raise ModalityError(f"sound file {path} holds no samples")
    check_finite(wave, f"sound file {path}")
    return wave, int(rate), info


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a whole sound file as ``(float32 waveform (L,) or (L, C), sample_rate)``."""
    wave, rate, _ = read_sound(path)
    return wave, rate


def _clock(seconds: float) -> str:
    h, rest = divmod(int(seconds), 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}"
