"""Spoken captions from the speech engines Debian ships: espeak-ng and flite.

A :class:`Voice` is an engine, a voice of it and a speed and pitch. Each (text, voice) is spoken
once into a content-addressed cache (``<cache>/<hash[:2]>/<hash>.wav``: 16-bit mono at
``RATE`` Hz, leading and trailing silence trimmed, the peak normalised at the engine's rate, which
resampling moves by a few per cent); the hash covers the text,
the voice, the engine's version and this module's ``SPEECH_FORMAT``, so a new engine speaks
again. Missing clips are spoken by parallel worker processes; every file is written atomically.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from synesthesia.errors import SynesthesiaError
from synesthesia.modalities import dsp
from synesthesia.modalities.files import read_audio, write_wav

SPEECH_FORMAT = 1            # bumped when synthesis or post-processing changes: clips are spoken again
RATE = 16000                 # sample rate of the stored clips
TRIM_DB = -40.0              # samples below this level (relative to the peak) at both ends are silence
MARGIN_S = 0.04              # silence kept before and after the speech
PEAK = 0.9                   # peak amplitude after normalisation

# espeak-ng: -s words per minute, -p pitch (0-99); flite: duration stretch (x100), no pitch option.
ESPEAK_SPEEDS, ESPEAK_PITCHES = (155, 175, 195), (30, 50, 70)
FLITE_STRETCHES = (90, 100, 112)


class SpeechError(SynesthesiaError):
    """A speech engine is missing or failed; the message says what to install."""


@dataclass(frozen=True)
class Voice:
    engine: str                  # espeak-ng or flite
    name: str                    # the engine's voice: en-us, en-gb-scotland, kal, slt, ...
    speed: int                   # espeak-ng: words per minute; flite: duration stretch x 100
    pitch: int = 50              # espeak-ng: pitch 0-99 (flite: unused)

    @property
    def label(self) -> str:
        return f"{self.engine}:{self.name}"

    def command(self, text: str, out: Path) -> list[str]:
        if self.engine == "espeak-ng":
            return ["espeak-ng", "-v", self.name, "-s", str(self.speed), "-p", str(self.pitch),
                    "-w", str(out), text]
        if self.engine == "flite":
            return ["flite", "-voice", self.name, "--setf", f"duration_stretch={self.speed / 100:g}",
                    "-t", text, "-o", str(out)]
        raise SpeechError(f"unknown speech engine {self.engine!r}; use espeak-ng or flite")


def voices(espeak: Sequence[str], flite: Sequence[str]) -> list[Voice]:
    """Every speed and pitch of the espeak-ng voices ``espeak`` and every stretch of the flite
    voices ``flite``."""
    out = [Voice("espeak-ng", v, s, p) for v in espeak for s in ESPEAK_SPEEDS for p in ESPEAK_PITCHES]
    return out + [Voice("flite", v, s) for v in flite for s in FLITE_STRETCHES]


def missing_engines() -> list[str]:
    return [e for e in ("espeak-ng", "flite") if shutil.which(e) is None]


@functools.cache
def engine_version(engine: str) -> str:
    if shutil.which(engine) is None:
        raise SpeechError(f"{engine} is not installed; install the Debian packages espeak-ng and flite "
                          "(apt-get install espeak-ng flite)")
    done = subprocess.run([engine, "--version"], capture_output=True, text=True, timeout=30)
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return next((line for line in lines if "version" in line.lower() or "text-to-speech" in line), "unknown")


def clip_key(text: str, voice: Voice) -> str:
    """The content hash naming a clip in the cache."""
    doc = [SPEECH_FORMAT, RATE, text, asdict(voice), engine_version(voice.engine)]
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]


def clip_path(cache: Path, key: str) -> Path:
    return Path(cache) / key[:2] / f"{key}.wav"


def trim(wave: np.ndarray, rate: int) -> np.ndarray:
    """Cut the silence before and after the speech (keeping ``MARGIN_S``), normalise the peak."""
    peak = float(np.abs(wave).max()) if len(wave) else 0.0
    if peak <= 0:
        raise SpeechError("the engine produced silence")
    loud = np.nonzero(np.abs(wave) > peak * 10 ** (TRIM_DB / 20))[0]
    margin = int(MARGIN_S * rate)
    wave = wave[max(0, loud[0] - margin): loud[-1] + margin + 1]
    return (wave / peak * PEAK).astype(np.float32)


def speak(text: str, voice: Voice) -> np.ndarray:
    """The float32 waveform at ``RATE`` Hz of ``text`` spoken by ``voice``."""
    engine_version(voice.engine)
    with tempfile.TemporaryDirectory(prefix="synesthesia-speech-") as tmp:
        out = Path(tmp) / "clip.wav"
        done = subprocess.run(voice.command(text, out), capture_output=True, text=True, timeout=60)
        if done.returncode != 0 or not out.is_file():
            raise SpeechError(f"{voice.engine} failed on {text!r} ({voice}): {done.stderr.strip()[:200]}")
        wave, rate = read_audio(out)
    wave = wave.mean(axis=1) if wave.ndim == 2 else wave
    return dsp.resample(trim(wave, rate), rate, RATE)


def _speak_into(job: tuple[str, Voice, str]) -> str:
    text, voice, path = job
    write_wav(speak(text, voice), RATE, path)
    return path


def speak_all(jobs: Iterable[tuple[str, Voice]], cache: str | Path, workers: int = 2,
              log=print) -> dict[tuple[str, Voice], Path]:
    """Every (text, voice) of ``jobs`` as a cached clip path; missing clips are spoken by
    ``workers`` processes."""
    cache = Path(cache)
    paths = {job: clip_path(cache, clip_key(*job)) for job in dict.fromkeys(jobs)}
    todo = [(text, voice, str(path)) for (text, voice), path in paths.items() if not path.is_file()]
    if todo:
        log(f"  speaking {len(todo):,} new clips ({len(paths) - len(todo):,} cached) with {workers} processes")
        for sub in {Path(p).parent for _, _, p in todo}:
            sub.mkdir(parents=True, exist_ok=True)
        if workers > 1:
            with get_context("spawn").Pool(workers) as pool:
                for _ in pool.imap_unordered(_speak_into, todo, chunksize=16):
                    pass
        else:
            for job in todo:
                _speak_into(job)
    return paths


def default_cache() -> Path:
    """``$SYNESTHESIA_CACHE/realdata/speech`` when that is set, else ``~/.cache/synesthesia/...``."""
    root = os.environ.get("SYNESTHESIA_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "synesthesia") / "realdata" / "speech"
