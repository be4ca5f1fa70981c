"""Limits on the input synesthesia will decode, checked from headers before anything is decoded.

A file or value over a limit is refused with :class:`LimitExceeded`, whose message names the
limit and how to raise it: ``limits.<field>`` in a run's config (``--set limits.image_pixels=2e8``)
or, from Python, :func:`set_limits` / :func:`using_limits`. The limits in force are one
process-wide :class:`Limits` object (:func:`get_limits`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass

from synesthesia.config import ConfigError, Section
from synesthesia.errors import SynesthesiaError


class LimitError(ConfigError):
    """A limit was given a value it cannot take (not a positive number, an unknown name)."""


class LimitExceeded(SynesthesiaError):
    """An input is larger (or stranger) than a limit allows; the message says how to raise it."""


@dataclass
class Limits(Section):
    """What one input may hold. Every field is checked before decoding."""

    image_pixels: int = 50_000_000          # pixels decoded for one image (a JPEG counts after its draft reduction)
    audio_seconds: float = 3600.0           # duration a sound file's header may declare
    audio_channels: int = 64                # channels a sound may have
    min_sample_rate: int = 1000             # Hz; lower rates are refused (resampling them up costs memory)
    max_sample_rate: int = 768_000          # Hz
    video_frames: int = 10_000              # frames a video may hold (estimated from its header, then counted)
    video_pixels: int = 16_777_216          # pixels of one video frame (4096 x 4096)
    text_chars: int = 10_000                # characters of one caption or prompt (and 4x that in bytes for a file)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str):                     # YAML 1.1 reads 2e8 as a string
                try:
                    value = float(value.replace("_", ""))
                except ValueError:
                    pass
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise LimitError(f"limits.{f.name} must be a positive number, got {value!r}")
            if f.type == "int" or f.type is int:
                if float(value) != int(value):
                    raise LimitError(f"limits.{f.name} must be a whole number, got {value!r}")
                value = int(value)
            setattr(self, f.name, value)
        if self.min_sample_rate > self.max_sample_rate:
            raise LimitError(f"limits.min_sample_rate ({self.min_sample_rate}) is above "
                                f"limits.max_sample_rate ({self.max_sample_rate})")

    def changed(self) -> dict:
        """The fields that differ from the defaults."""
        default = Limits()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(default, f.name)}


_current = Limits()


def get_limits() -> Limits:
    """The limits in force."""
    return _current


def set_limits(limits: Limits | None = None, **changes) -> Limits:
    """Put ``limits`` (default: the ones in force) with ``changes`` applied in force; returns the
    previous ones. ``set_limits(image_pixels=200_000_000)`` raises one limit."""
    global _current
    unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(Limits)})
    if unknown:
        raise LimitError(f"unknown limit(s) {', '.join(unknown)}; known: "
                            f"{', '.join(f.name for f in dataclasses.fields(Limits))}")
    previous = _current
    base = limits or _current
    _current = dataclasses.replace(base, **changes) if changes else base
    return previous


@contextlib.contextmanager
def using_limits(limits: Limits | None = None, **changes) -> Iterator[Limits]:
    """Limits in force within a ``with`` block only."""
    previous = set_limits(limits, **changes)
    try:
        yield _current
    finally:
        set_limits(previous)


def exceeded(what: str, value: float, field: str, unit: str = "") -> LimitExceeded:
    """The error for ``what`` holding ``value`` where ``limits.<field>`` allows less."""
    limit = getattr(_current, field)
    return LimitExceeded(f"{what} has {value:,.0f}{unit}, over the limit of {limit:,}{unit} "
                         f"(limits.{field}); raise it with --set limits.{field}=... in the run's "
                         f"config or synesthesia.limits.set_limits({field}=...) if you trust the input")


__all__ = ["LimitError", "LimitExceeded", "Limits", "exceeded", "get_limits", "set_limits", "using_limits"]
