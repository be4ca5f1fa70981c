"""Attributes of the shapes world, levels, and the world configuration.

Every sample of the world is described by one integer code per attribute. Codes index the value
tuples in :data:`ATTRIBUTES`; an attribute a level does not use is fixed to its default value and
is not mentioned in captions.

Levels follow CdSprites+ (Sejnova et al., 2024): L1 shape only, L2 + size, L3 + colour,
L4 + position, L5 + background. ``motion`` is the video attribute; it is added to any level when
the world produces video.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from synesthesia.config import ConfigError, Section

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "shape": ("circle", "square", "triangle", "star", "heart", "cross"),
    "size": ("small", "medium", "large"),
    "colour": ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink"),
    "position": (
        "top-left", "top", "top-right",
        "left", "centre", "right",
        "bottom-left", "bottom", "bottom-right",
    ),
    "background": ("plain", "stripes", "checker", "noise", "gradient"),
    "motion": ("static", "up", "down", "left", "right", "grow", "shrink"),
}

# The value an attribute takes when a level does not vary it.
DEFAULTS: dict[str, str] = {
    "shape": "circle",
    "size": "medium",
    "colour": "yellow",
    "position": "centre",
    "background": "plain",
    "motion": "static",
}

LEVELS: dict[int, tuple[str, ...]] = {
    1: ("shape",),
    2: ("shape", "size"),
    3: ("shape", "size", "colour"),
    4: ("shape", "size", "colour", "position"),
    5: ("shape", "size", "colour", "position", "background"),
}

MODALITIES: tuple[str, ...] = ("image", "text", "audio", "video")
SPLITS: tuple[str, ...] = ("train", "val", "test", "holdout")
ATTRIBUTE_NAMES: tuple[str, ...] = tuple(ATTRIBUTES)


class WorldError(ConfigError):
    """Bad world configuration or attribute input; the message says what to change."""


def value_code(attribute: str, value: str) -> int:
    """Integer code of ``value`` for ``attribute``, with an error naming the valid choices."""
    if attribute not in ATTRIBUTES:
        raise WorldError(
            f"unknown attribute {attribute!r}; choose from {', '.join(ATTRIBUTE_NAMES)}"
        )
    values = ATTRIBUTES[attribute]
    if value not in values:
        raise WorldError(
            f"unknown value {value!r} for attribute {attribute!r}; choose from {', '.join(values)}"
        )
    return values.index(value)


def parse_combination(text: str) -> dict[str, str]:
    """Parse ``"shape=star,colour=red"`` into ``{"shape": "star", "colour": "red"}``."""
    combo: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise WorldError(
                f"cannot read {part!r} in holdout {text!r}: write attribute=value pairs separated "
                "by commas, e.g. 'shape=star,colour=red'"
            )
        name, value = (s.strip() for s in part.split("=", 1))
        value_code(name, value)
        if name in combo:
            raise WorldError(f"attribute {name!r} appears twice in holdout {text!r}")
        combo[name] = value
    if not combo:
        raise WorldError(f"empty holdout {text!r}: give at least one attribute=value pair")
    return combo


@dataclass(frozen=True)
class WorldConfig(Section):
    """Everything that decides what the world renders. A sample is a pure function of
    ``(config, split, index)``; ``seed`` is part of the config. ``motion`` joins the varied
    attributes when ``video`` is among the modalities, unless ``attributes`` is given."""

    level: int = 3                                     # difficulty 1-5: which attributes vary (CdSprites+ levels)
    attributes: tuple[str, ...] | None = None          # a custom set of varied attributes instead of the level's
    image_size: int = 32                               # image side in pixels
    video_size: int = 32                               # video frame side in pixels
    video_frames: int = 8                              # frames per video
    sample_rate: int = 8000                            # sound sample rate in Hz (at least 8000)
    audio_seconds: float = 1.0                         # sound length in seconds
    modalities: tuple[str, ...] = MODALITIES           # modalities rendered: image, text, audio, video
    holdout: tuple[Any, ...] = ()                      # attribute combinations never in train/val, e.g. 'shape=star,colour=red'
    partial_caption_p: float = 0.0                     # probability of leaving each attribute out of a caption
    seed: int = 0                                      # world seed: another seed, another world

    error = WorldError

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise WorldError(f"unknown level {self.level!r}; choose from 1, 2, 3, 4, 5")
        if self.attributes is not None:
            object.__setattr__(self, "attributes", tuple(self.attributes))
            for name in self.attributes:
                if name not in ATTRIBUTES:
                    raise WorldError(
                        f"unknown attribute {name!r}; choose from {', '.join(ATTRIBUTE_NAMES)}"
                    )
            if len(set(self.attributes)) != len(self.attributes):
                raise WorldError(f"attributes repeat a name: {self.attributes}")
        object.__setattr__(self, "modalities", tuple(self.modalities))
        for m in self.modalities:
            if m not in MODALITIES:
                raise WorldError(f"unknown modality {m!r}; choose from {', '.join(MODALITIES)}")
        if not self.modalities:
            raise WorldError("a world needs at least one modality")
        for name, lo in (("image_size", 16), ("video_size", 16)):
            if int(getattr(self, name)) < lo:
                raise WorldError(f"{name} must be at least {lo} pixels, got {getattr(self, name)}")
        if self.video_frames < 2:
            raise WorldError(f"video_frames must be at least 2, got {self.video_frames}")
        if self.sample_rate < 8000:
            raise WorldError(f"sample_rate must be at least 8000 Hz, got {self.sample_rate}")
        if not 0.25 <= self.audio_seconds <= 10:
            raise WorldError(f"audio_seconds must be between 0.25 and 10, got {self.audio_seconds}")
        if not 0.0 <= self.partial_caption_p < 1.0:
            raise WorldError(
                f"partial_caption_p must be in [0, 1), got {self.partial_caption_p}"
            )
        holdout = []
        for combo in self.holdout:
            if isinstance(combo, str):
                combo = parse_combination(combo)
            items = combo.items() if isinstance(combo, Mapping) else combo
            pairs = tuple(sorted((str(k), str(v)) for k, v in items))
            for k, v in pairs:
                value_code(k, v)
                if k not in self.varied:
                    raise WorldError(
                        f"holdout {k}={v} names an attribute this world does not vary; it varies "
                        f"{', '.join(self.varied)}"
                    )
            holdout.append(pairs)
        object.__setattr__(self, "holdout", tuple(holdout))

    # -- derived -----------------------------------------------------------------------------
    @property
    def varied(self) -> tuple[str, ...]:
        """Attributes that change from sample to sample, in :data:`ATTRIBUTE_NAMES` order."""
        if self.attributes is not None:
            chosen = set(self.attributes)
        else:
            chosen = set(LEVELS[self.level])
            if "video" in self.modalities:
                chosen.add("motion")
        return tuple(a for a in ATTRIBUTE_NAMES if a in chosen)

    def holdout_codes(self) -> list[dict[str, int]]:
        return [{k: value_code(k, v) for k, v in combo} for combo in self.holdout]

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["attributes"] = list(self.attributes) if self.attributes is not None else None
        d["modalities"] = list(self.modalities)
        d["holdout"] = [dict(combo) for combo in self.holdout]
        return d

    @classmethod
    def from_dict(cls, d: Mapping | None, where: str = "data.world") -> WorldConfig:
        if isinstance(d, cls) or (d is not None and not isinstance(d, Mapping)):
            return super().from_dict(d, where)           # a WorldConfig, or refused as not a mapping
        d = dict(d or {})
        if isinstance(d.get("holdout"), str):
            d["holdout"] = [d["holdout"]]
        return super().from_dict(d, where)

    def fingerprint(self) -> str:
        """Short stable hash of the config and the world's vocabulary; changes whenever a
        sample could change."""
        payload = {"config": self.to_dict(), "attributes": ATTRIBUTES, "defaults": DEFAULTS,
                   "version": WORLD_VERSION}
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# Bump when rendering, captions or sound change in a way that changes samples.
WORLD_VERSION = 1


def default_codes(n: int) -> dict[str, np.ndarray]:
    """Codes of ``n`` samples with every attribute at its default value."""
    return {a: np.full(n, ATTRIBUTES[a].index(DEFAULTS[a]), dtype=np.int64) for a in ATTRIBUTE_NAMES}


def codes_to_values(codes: Mapping[str, np.ndarray], i: int) -> dict[str, str]:
    """Attribute values (strings) of sample ``i`` of a batch of codes."""
    return {a: ATTRIBUTES[a][int(codes[a][i])] for a in codes}


def values_to_codes(rows: Sequence[Mapping[str, str]]) -> dict[str, np.ndarray]:
    """Codes from attribute dicts; attributes a row leaves out take their default value."""
    out = default_codes(len(rows))
    for i, row in enumerate(rows):
        for k, v in row.items():
            out[k][i] = value_code(k, v)
    return out
