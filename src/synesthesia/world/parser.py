"""Read attributes back from a caption: a longest-match phrase matcher built from the caption
generator's own phrase tables. This is how generated captions are scored.

Text is lower-cased, hyphens become spaces and other punctuation is dropped; then, scanning left
to right, the longest phrase that starts at each word wins (so "in the upper left corner" is one
position, and "moving left" is a motion, not a position). Words outside every phrase and the
templates' filler words are reported as unknown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from synesthesia.world.attributes import ATTRIBUTE_NAMES, ATTRIBUTES
from synesthesia.world.captions import FILLER_WORDS, GENERIC_NOUN, PHRASES

_PUNCT = re.compile(r"[^a-z0-9\s]+")


def normalise(text: str) -> list[str]:
    """Lower-case words with hyphens as spaces and punctuation removed."""
    return _PUNCT.sub(" ", text.lower().replace("-", " ")).split()


@lru_cache(maxsize=1)
def _phrase_table() -> tuple[dict[tuple[str, ...], tuple[str, str]], int]:
    table: dict[tuple[str, ...], tuple[str, str]] = {}
    for attr, values in PHRASES.items():
        for value, phrases in values.items():
            for p in phrases:
                key = tuple(normalise(p))
                if key in table and table[key] != (attr, value):
                    raise RuntimeError(f"phrase {p!r} is ambiguous: {table[key]} and {(attr, value)}")
                table[key] = (attr, value)
    return table, max(len(k) for k in table)


@dataclass
class ParsedCaption:
    values: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    conflicts: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.unknown and not self.conflicts


def parse_caption(text: str) -> ParsedCaption:
    table, longest = _phrase_table()
    fillers = set(FILLER_WORDS) | {GENERIC_NOUN}
    words = normalise(text)
    out = ParsedCaption()
    i = 0
    while i < len(words):
        for span in range(min(longest, len(words) - i), 0, -1):
            hit = table.get(tuple(words[i:i + span]))
            if hit:
                attr, value = hit
                seen = out.values.get(attr)
                if attr in out.conflicts:
                    if value not in out.conflicts[attr]:
                        out.conflicts[attr].append(value)
                elif seen is not None and seen != value:
                    out.conflicts[attr] = [seen, value]
                else:
                    out.values[attr] = value
                i += span
                break
        else:
            if words[i] not in fillers:
                out.unknown.append(words[i])
            i += 1
    for attr in out.conflicts:
        out.values.pop(attr, None)
    return out


def parse_captions(texts: Sequence[str]) -> dict[str, np.ndarray]:
    """Attribute -> int64 codes (N,), -1 where a caption does not name the attribute or names
    it twice with different values."""
    out = {a: np.full(len(texts), -1, dtype=np.int64) for a in ATTRIBUTE_NAMES}
    for i, t in enumerate(texts):
        for attr, value in parse_caption(t).values.items():
            out[attr][i] = ATTRIBUTES[attr].index(value)
    return out
