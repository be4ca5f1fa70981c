"""What the API and the UI both call: request limits, the batching queue and media coding
around the :class:`~synesthesia.serve.engine.Engine`.

Requests without a seed are batched with others waiting for the same run, direction, ``n``,
temperature and options; the response says the seed the batch was drawn with and how many
requests shared the call. A request with a seed runs alone, so the same seed gives the same
outputs as ``synesthesia generate --seed`` with the same run.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from synesthesia.serve.engine import Direction, Engine, Generated, GenerateKey
from synesthesia.serve.media import MediaLimits, decode_input, encode_output
from synesthesia.serve.scheduler import Batcher, Job
from synesthesia.serve.settings import ServeError, ServeSettings

MAX_TEMPERATURE = 10.0
MAX_BEAM = 32

class Service:
    """The engine behind a bounded, batching queue, with the server's limits applied."""

    def __init__(self, engine: Engine, settings: ServeSettings) -> None:
        self.engine, self.settings = engine, settings
        self._own_temp = settings.temp_dir is None
        self.temp_dir = Path(settings.temp_dir or tempfile.mkdtemp(prefix="synesthesia-serve-")).resolve()
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self.limits = MediaLimits(settings.max_pixels, settings.max_side, settings.max_audio_seconds,
                                  settings.max_video_frames, settings.max_video_pixels)
        self.batcher = Batcher(self._run_batch, queue_size=settings.queue_size,
                               window=settings.batch_window_ms / 1000, max_rows=settings.max_batch_rows,
                               timeout=settings.timeout_s, batching=settings.batching)

    def _run_batch(self, key: GenerateKey, items: list) -> list:
        return self.engine.run_generate(key, items, None)

    def close(self) -> None:
        self.batcher.close()
        if self._own_temp:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    # -- checks ------------------------------------------------------------------------------
    def check_text(self, text: Any, what: str = "text") -> str:
        if not isinstance(text, str):
            raise ServeError(f"{what} must be a string")
        if len(text) > self.settings.max_prompt_chars:
            raise ServeError(f"{what} has {len(text)} characters; the server takes at most "
                             f"{self.settings.max_prompt_chars}")
        return text

    def _check_numbers(self, n: int, temperature: float, options: Mapping[str, Any]) -> None:
        s = self.settings
        if not 1 <= n <= s.max_n:
            raise ServeError(f"n must be between 1 and {s.max_n}, got {n}")
        if not 0.0 <= temperature <= MAX_TEMPERATURE:
            raise ServeError(f"temperature must be between 0 and {MAX_TEMPERATURE:g}, got {temperature}")
        bounds = {"steps": (1, s.max_steps), "flow_steps": (1, s.max_steps), "chains": (1, s.max_chains),
                  "proposals": (1, s.max_chains),
                  "beam_size": (1, MAX_BEAM), "top_k": (1, 100_000), "top_p": (0.0, 1.0),
                  "cfg_scale": (0.0, 100.0), "length_penalty": (0.0, 10.0)}
        for name, (lo, hi) in bounds.items():
            value = options.get(name)
            if value is not None and not lo <= value <= hi:
                raise ServeError(f"{name} must be between {lo} and {hi}, got {value}")

    async def decode(self, modality: str, data: bytes) -> Any:
        """Uploaded bytes -> the raw input (checked from the header first), off the event loop."""
        return await asyncio.to_thread(decode_input, modality, data, self.limits, self.temp_dir)

    async def encode(self, modality: str, raws: list, video_format: str | None = None) -> list[dict]:
        fmt = video_format or self.settings.video_format
        if fmt not in ("gif", "mp4"):
            raise ServeError(f"video_format must be gif or mp4, got {fmt!r}")
        fps = int(getattr(self.engine.modalities.get("video"), "fps", 8) or 8)
        return await asyncio.to_thread(lambda: [encode_output(modality, r, fmt, fps, self.temp_dir) for r in raws])

    # -- requests ----------------------------------------------------------------------------
    async def generate(self, to: str, given: Mapping[str, Any], n: int = 1, seed: int | None = None,
                       temperature: float = 1.0, options: Mapping[str, Any] | None = None
                       ) -> tuple[Direction, Generated]:
        """``n`` outputs of ``to`` from raw inputs ``given`` (media already decoded)."""
        given = {m: v for m, v in given.items() if v is not None}
        if "text" in given:
            self.check_text(given["text"])
        d = self.engine.direction(list(given), to)
        chosen = self.engine.check_options(d.run, options or {})
        self._check_numbers(n, temperature, chosen)
        key = GenerateKey(d.run, d.given, to, int(n), float(temperature), tuple(sorted(chosen.items())))
        if seed is None:
            result = await self.batcher.submit(Job(key, dict(given), rows=int(n)))
        else:
            result = await self.batcher.call(lambda: _only(self.engine.run_generate(key, [dict(given)], seed)),
                                             rows=int(n))
        return d, result

    async def cycle(self, text: str | None, image: Any, rounds: int, seed: int | None) -> dict:
        if (text is None) == (image is None):
            raise ServeError("start the cycle from text or from an image (one of them)")
        if text is not None:
            self.check_text(text)
        if not 1 <= rounds <= self.settings.max_rounds:
            raise ServeError(f"rounds must be between 1 and {self.settings.max_rounds}, got {rounds}")
        self.engine.direction(["text"], "image")
        self.engine.direction(["image"], "text")
        seed = int(seed) if seed is not None else _random_seed()
        return await self.batcher.call(lambda: self.engine.cycle(text, image, rounds, seed), rows=2 * rounds)

    async def sample(self, run: str | None, n: int, seed: int | None, temperature: float) -> tuple[int, Generated]:
        index = self.run_index(run) if run else self.engine.default_sample_run()
        self._check_numbers(n, temperature, {})
        result = await self.batcher.call(lambda: self.engine.sample(index, n, seed, temperature), rows=n)
        return index, result

    def run_index(self, name: str) -> int:
        if name not in self.engine.names:
            raise ServeError(f"no run named {name!r}; the server has {', '.join(self.engine.names)}")
        return self.engine.names.index(name)

def _only(results: list):
    return results[0]

def _random_seed() -> int:

    return secrets.randbelow(2**31 - 1)
