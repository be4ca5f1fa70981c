"""English captions of world samples: six sentence templates and synonyms for every value.

The phrase tables here are the single source of truth: :mod:`synesthesia.world.parser` reads
captions back with the same tables. Random choices (template, synonyms, omitted attributes) are
drawn per sample from :class:`~synesthesia.world.rng.BatchRandom`, so a caption is a pure
function of the sample.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from synesthesia.world.attributes import ATTRIBUTES
from synesthesia.world.rng import BatchRandom

PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "shape": {
        "circle": ("circle", "disc"), "square": ("square",), "triangle": ("triangle",),
        "star": ("star",), "heart": ("heart",), "cross": ("cross", "plus sign"),
    },
    "size": {
        "small": ("small", "little", "tiny"), "medium": ("medium", "medium-sized", "mid-sized"),
        "large": ("big", "large", "huge"),
    },
    "colour": {
        "red": ("red",), "orange": ("orange",), "yellow": ("yellow",), "green": ("green",),
        "cyan": ("cyan", "turquoise"), "blue": ("blue",), "purple": ("purple", "violet"),
        "pink": ("pink",),
    },
    "position": {
        "top-left": ("at the top left", "in the upper left corner", "in the top-left corner"),
        "top": ("at the top", "at the top centre", "in the upper middle"),
        "top-right": ("at the top right", "in the upper right corner", "in the top-right corner"),
        "left": ("on the left", "at the left side", "in the middle left"),
        "centre": ("in the centre", "in the middle", "at the centre"),
        "right": ("on the right", "at the right side", "in the middle right"),
        "bottom-left": ("at the bottom left", "in the lower left corner", "in the bottom-left corner"),
        "bottom": ("at the bottom", "at the bottom centre", "in the lower middle"),
        "bottom-right": ("at the bottom right", "in the lower right corner", "in the bottom-right corner"),
    },
    "background": {
        "plain": ("on a plain background", "against a plain backdrop"),
        "stripes": ("on a striped background", "on stripes"),
        "checker": ("on a checkered background", "on a checkerboard"),
        "noise": ("on a noisy background", "on a speckled background"),
        "gradient": ("on a gradient background", "on a shaded background"),
    },
    "motion": {
        "static": ("standing still", "not moving", "staying put"),
        "up": ("moving up", "rising", "going up"),
        "down": ("moving down", "falling", "sinking"),
        "left": ("moving left", "drifting left"),
        "right": ("moving right", "drifting right"),
        "grow": ("growing", "getting bigger"),
        "shrink": ("shrinking", "getting smaller"),
    },
}

# Words the templates add around the phrases; the parser treats them as fillers.
FILLER_WORDS = ("a", "an", "there", "is", "you", "can", "see", "the", "picture", "shows", "that",
                "it", "and", "shape", "which")
GENERIC_NOUN = "shape"
_VOWELS = ("a", "e", "i", "o", "u")


def _a(noun_phrase: str) -> str:
    return ("an " if noun_phrase.startswith(_VOWELS) else "a ") + noun_phrase


def _join(*parts: str | None) -> str:
    return " ".join(p for p in parts if p)


def _and(items: Sequence[str]) -> str:
    return " and ".join(i for i in items if i)


# Each template takes the chosen phrase per attribute (None when the caption leaves it out).
Slots = Mapping[str, str | None]


def _t_plain(s: Slots) -> str:
    return _join(_a(_join(s["size"], s["colour"], s["shape"])), s["motion"], s["position"], s["background"])


def _t_there_is(s: Slots) -> str:
    return _join("there is", _a(_join(s["size"], s["colour"], s["shape"])), s["position"],
                 s["background"], s["motion"] and f"and it is {s['motion']}")


def _t_you_can_see(s: Slots) -> str:
    tail = _and([s["size"] or "", s["motion"] or ""])
    return _join(s["position"] and f"{s['position']} you can see", _a(_join(s["colour"], s["shape"])),
                 s["background"], tail and f"and it is {tail}")


def _t_picture_shows(s: Slots) -> str:
    rel = _and([s["size"] or "", s["motion"] or ""])
    return _join("the picture shows", _a(_join(s["colour"], s["shape"])), rel and f"that is {rel}",
                 s["position"], s["background"])


def _t_appositive(s: Slots) -> str:
    adj = _and([s["size"] or "", s["colour"] or ""])
    text = _join(_a(s["shape"]) + ("," if adj else ""), adj and f"{adj},", s["position"], s["motion"],
                 s["background"])
    return text.rstrip(",")


def _t_background_first(s: Slots) -> str:
    return _join(s["background"], _a(_join(s["size"], s["colour"], s["shape"])),
                 s["motion"] and f"is {s['motion']}", s["position"])


TEMPLATES: tuple[Callable[[Slots], str], ...] = (
    _t_plain, _t_there_is, _t_you_can_see, _t_picture_shows, _t_appositive, _t_background_first,
)
SLOT_NAMES = ("shape", "size", "colour", "position", "background", "motion")


def make_captions(codes: Mapping[str, np.ndarray], varied: Sequence[str], rng: BatchRandom,
                  partial_p: float = 0.0) -> list[str]:
    """One caption per sample naming the ``varied`` attributes (each left out with probability
    ``partial_p``; the shape, or else one attribute, is always kept)."""
    n = len(rng)
    varied = [a for a in SLOT_NAMES if a in varied]
    template = rng.integers("caption.template", len(TEMPLATES))
    keep = {a: np.ones(n, dtype=bool) for a in varied}
    if partial_p > 0 and varied:
        drop = rng.uniform("caption.omit", len(varied)) < partial_p
        anchor = varied.index("shape") if "shape" in varied else 0
        drop[:, anchor] &= drop.sum(axis=1) < len(varied)        # never drop everything
        if "shape" in varied:
            drop[:, anchor] = False
        for k, a in enumerate(varied):
            keep[a] = ~drop[:, k]
    choice: dict[str, list] = {}
    for a in varied:
        options = [PHRASES[a][v] for v in ATTRIBUTES[a]]                      # per value
        pick = rng.integers(f"caption.synonym.{a}", 1 << 30)
        choice[a] = [options[c][p % len(options[c])] if k else None
                     for c, p, k in zip(codes[a].tolist(), pick.tolist(), keep[a].tolist())]
    captions = []
    for i in range(n):
        slots = {a: (choice[a][i] if a in choice else None) for a in SLOT_NAMES}
        if slots["shape"] is None:
            slots["shape"] = GENERIC_NOUN
        captions.append(TEMPLATES[template[i]](slots))
    return captions


def caption_vocabulary() -> list[str]:
    """Every word a caption can contain, sorted."""
    words = set(FILLER_WORDS) | {GENERIC_NOUN}
    for table in PHRASES.values():
        for phrases in table.values():
            for p in phrases:
                words.update(p.split())
    return sorted(words)
