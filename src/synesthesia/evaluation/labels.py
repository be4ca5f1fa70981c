"""Reading the class a caption names: the text judge of labelled data.

A :class:`LabelParser` knows, per class, the phrases that name it ("ankle boot", "ankle boots").
A caption names a class when one of its phrases occurs as whole words (letters, digits, hyphens and
apostrophes count as word characters, so "shirt" is not found inside "t-shirt"); a caption naming
no class, or two different ones, reads as ``None`` (wrong for any class asked for), as the world's
caption parser counts an unreadable caption as wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from synesthesia.errors import SynesthesiaError

_WORD = r"[\w'-]"


class LabelParser:
    """Phrases per class -> the class a caption names."""

    def __init__(self, classes: Sequence[str], phrases: Mapping[str, Sequence[str]] | None = None) -> None:
        self.classes = list(classes)
        unknown = sorted(set(phrases or {}) - set(self.classes))
        if unknown:
            raise SynesthesiaError(f"phrases given for unknown classes {unknown}; the classes are {self.classes}")
        phrases = {c: list((phrases or {}).get(c, [])) or [c] for c in self.classes}
        self.patterns = [(k, re.compile(rf"(?<!{_WORD})" + r"\s+".join(map(re.escape, p.lower().split()))
                                        + rf"(?!{_WORD})"))
                         for k, c in enumerate(self.classes)
                         for p in sorted(phrases[c], key=len, reverse=True)]

    def parse(self, caption: str) -> int | None:
        """The index of the one class ``caption`` names, else None."""
        text = caption.lower()
        found = {k for k, pattern in self.patterns if pattern.search(text)}
        return found.pop() if len(found) == 1 else None

    def parse_all(self, captions: Sequence[str]) -> list[int | None]:
        return [self.parse(c) for c in captions]

    def accuracy(self, captions: Sequence[str], labels: Sequence[int]) -> float:
        """Share of captions naming their label's class (and no other)."""
        if len(captions) != len(labels) or not captions:
            raise SynesthesiaError(f"need one label per caption (> 0); got {len(captions)} and {len(labels)}")
        return sum(self.parse(c) == int(y) for c, y in zip(captions, labels)) / len(captions)


__all__ = ["LabelParser"]
