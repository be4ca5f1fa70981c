"""The world itself: attribute codes per split (with held-out combinations) and rendering of
every modality for a batch of indices.

A sample is a pure function of ``(config, split, index)``: all randomness comes from
:class:`~synesthesia.world.rng.BatchRandom`, so rendering indices 0..9 in one batch or one at a
time gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from synesthesia.world.attributes import (
    ATTRIBUTE_NAMES,
    ATTRIBUTES,
    SPLITS,
    WorldConfig,
    WorldError,
    default_codes,
)
from synesthesia.world.captions import make_captions
from synesthesia.world.render import render_images, render_videos
from synesthesia.world.rng import BatchRandom
from synesthesia.world.sound import render_sounds

_MAX_REDRAWS = 64

def split_id(split: str) -> int:
    if split not in SPLITS:
        raise WorldError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    return SPLITS.index(split)

class ShapesWorld:
    """Renders samples of a :class:`WorldConfig`.

    ``render("train", range(100))`` returns a dict with ``codes`` (attribute -> int64 (N,)) and one
    entry per modality of the config: ``image`` uint8 (N, S, S, 3), ``text`` list of N captions,
    ``audio`` float32 (N, L) in [-1, 1], ``video`` uint8 (N, T, Sv, Sv, 3).
    """

    def __init__(self, config: WorldConfig | None = None, **overrides) -> None:
        if config is None:
            config = WorldConfig(**overrides)
        elif overrides:
            config = WorldConfig.from_dict({**config.to_dict(), **overrides})
        self.config = config
        self._holdout = config.holdout_codes()

    # -- attribute codes ---------------------------------------------------------------------
    def _draw(self, rng: BatchRandom, tag: str) -> dict[str, np.ndarray]:
        codes = default_codes(len(rng))
        for name in self.config.varied:
            codes[name] = rng.integers(f"attr.{name}.{tag}", len(ATTRIBUTES[name]))
        return codes

    def _held_out(self, codes: dict[str, np.ndarray]) -> np.ndarray:
        hit = np.zeros(len(codes["shape"]), dtype=bool)
        for combo in self._holdout:
            match = np.ones_like(hit)
            for name, code in combo.items():
                match &= codes[name] == code
            hit |= match
        return hit

    def codes(self, split: str, indices: Iterable[int]) -> dict[str, np.ndarray]:
        """Attribute codes (attribute -> int64 (N,)) of the given samples of ``split``."""
        sid = split_id(split)
        idx = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices,
                         dtype=np.int64)
        if idx.size and idx.min() < 0:
            raise WorldError("sample indices must be non-negative")
        rng = BatchRandom(self.config.seed, sid, idx)
        codes = self._draw(rng, "0")
        if split == "holdout":
            return self._force_holdout(codes, rng)
        if split in ("train", "val") and self._holdout:
            bad = self._held_out(codes)
            for r in range(1, _MAX_REDRAWS + 1):
                if not bad.any():
                    break
                redraw = self._draw(rng, str(r))
                for name in self.config.varied:
                    codes[name][bad] = redraw[name][bad]
                bad = self._held_out(codes)
            if bad.any():
                raise WorldError(
                    "the holdout combinations cover (almost) every sample; hold out fewer combinations"
                )
        return codes

    def _force_holdout(self, codes: dict[str, np.ndarray], rng: BatchRandom) -> dict[str, np.ndarray]:
        if not self._holdout:
            raise WorldError("split 'holdout' needs holdout combinations in the world config "
                             "(e.g. --holdout 'shape=star,colour=red')")
        which = rng.integers("holdout.combo", len(self._holdout))
        for k, combo in enumerate(self._holdout):
            rows = which == k
            for name, code in combo.items():
                codes[name][rows] = code
        return codes

    # -- rendering ---------------------------------------------------------------------------
    def render(self, split: str, indices: Iterable[int],
               modalities: Sequence[str] | None = None) -> dict:

        cfg = self.config
        mods = cfg.modalities if modalities is None else tuple(modalities)
        for m in mods:
            if m not in cfg.modalities:
                raise WorldError(f"this world has no {m!r} modality; it has {', '.join(cfg.modalities)}")
        idx = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices,
                         dtype=np.int64)
        codes = self.codes(split, idx)
        rng = BatchRandom(cfg.seed, split_id(split), idx)
        vary_bg = "background" in cfg.varied
        out: dict = {"codes": codes}
        if "image" in mods:
            out["image"] = render_images(codes, rng, cfg.image_size, vary_bg)
        if "text" in mods:

            out["text"] = make_captions(codes, cfg.varied, rng, cfg.partial_caption_p)
        if "audio" in mods:

            out["audio"] = render_sounds(codes, rng, cfg.sample_rate, cfg.audio_seconds)
        if "video" in mods:
            out["video"] = render_videos(codes, rng, cfg.video_size, cfg.video_frames, vary_bg)
        return out

    def render_chunks(self, split: str, n: int, chunk: int = 2048,
                      modalities: Sequence[str] | None = None, start: int = 0):
        """Yield ``(start, batch)`` for indices ``start .. start+n`` in chunks of ``chunk``."""
        for lo in range(start, start + n, chunk):
            hi = min(lo + chunk, start + n)
            yield lo, self.render(split, np.arange(lo, hi), modalities)

def codes_matrix(codes: dict[str, np.ndarray]) -> np.ndarray:
    """Codes as an int8 matrix (N, len(ATTRIBUTE_NAMES)) in :data:`ATTRIBUTE_NAMES` order."""
    return np.stack([codes[a] for a in ATTRIBUTE_NAMES], axis=1).astype(np.int8)

def matrix_codes(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Inverse of :func:`codes_matrix`."""
    return {a: matrix[:, i].astype(np.int64) for i, a in enumerate(ATTRIBUTE_NAMES)}
