"""The real data Debian packages install, read from where the packages put it.

* ``dataset-fashion-mnist``: the 70,000 Fashion-MNIST images (idx files) and their 10 classes;
* ``fonts-noto-color-emoji``: Noto Color Emoji, drawn with Pillow (the font has bitmaps at
  109 px only; drawn there, then scaled);
* ``unicode-data``: ``emoji-test.txt``, the emoji sequences and their Unicode names;
* ``unicode-cldr-core``: the CLDR English annotations (keywords per emoji).

Nothing here downloads anything; a missing package is a :class:`MissingPackage` naming it.
"""

from __future__ import annotations

import gzip
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from synesthesia.errors import SynesthesiaError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
CLDR_EN = Path("/usr/share/unicode/cldr/common/annotations/en.xml")
PACKAGES = {FASHION_DIR: "dataset-fashion-mnist", EMOJI_FONT: "fonts-noto-color-emoji",
            EMOJI_TEST: "unicode-data", CLDR_EN: "unicode-cldr-core"}
APT = ("apt-get install -y --no-install-recommends dataset-fashion-mnist fonts-noto-color-emoji "
       "unicode-data espeak-ng flite unicode-cldr-core")

# Fashion-MNIST's classes: the word a caption names and the noun phrase it uses.
FASHION_CLASSES = ("t-shirt", "trousers", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle boot")
FASHION_NOUNS = ("a t-shirt", "a pair of trousers", "a pullover", "a dress", "a coat", "a sandal", "a shirt",
                 "a sneaker", "a bag", "an ankle boot")
FASHION_TEMPLATES = ("{}", "a photo of {}", "grey-scale picture of {}", "a small image of {}",
                     "a picture of {}", "this is {}", "a dark photo of {}", "a blurry photo of {}")

EMOJI_BITMAP = 109            # the only size Noto Color Emoji draws
SKIN_TONES = {chr(c) for c in range(0x1F3FB, 0x1F400)}
VS16 = "\ufe0f"


class MissingPackage(SynesthesiaError):
    """A Debian package that holds the real data is not installed."""


def require(*paths: Path) -> None:
    missing = [p for p in paths if not p.exists()]
    if missing:
        names = ", ".join(sorted({PACKAGES.get(p, str(p)) for p in missing}))
        raise MissingPackage(f"{', '.join(map(str, missing))} not found: install the Debian package(s) {names} "
                             f"({APT})")


# -- Fashion-MNIST -----------------------------------------------------------------------------
def read_idx(path: Path) -> np.ndarray:
    """An idx file (gzipped): uint8 images (N, 28, 28) or labels (N,)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    kind, dims = data[2], data[3]
    if kind != 0x08:
        raise SynesthesiaError(f"{path}: idx type {kind:#x} is not unsigned bytes")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, 28, 28), labels (N,))`` of the official ``train`` or ``test`` split."""
    prefix = {"train": "train", "test": "t10k"}[split]
    images, labels = FASHION_DIR / f"{prefix}-images-idx3-ubyte.gz", FASHION_DIR / f"{prefix}-labels-idx1-ubyte.gz"
    require(images, labels)
    return read_idx(images), read_idx(labels)


# -- emoji ---------------------------------------------------------------------------------------
@dataclass
class Emoji:
    text: str                     # the emoji sequence
    name: str                     # its Unicode CLDR short name, e.g. "thumbs up: medium skin tone"
    group: str                    # its emoji-test.txt group, e.g. "People & Body"
    keywords: list[str] = field(default_factory=list)   # CLDR keywords of its base emoji

    @property
    def captions(self) -> list[str]:
        """The name, then its keywords as a phrase when CLDR has them."""
        extra = ", ".join(k for k in self.keywords if k.lower() != self.name.lower())
        return [self.name, extra] if extra else [self.name]


LINE = re.compile(r"^(?P<cps>[0-9A-F ]+?)\s*;\s*fully-qualified\s*#\s*\S+\s+E\d+\.\d+\s+(?P<name>.+)$")


def read_emoji(path: Path = EMOJI_TEST) -> list[Emoji]:
    """Every fully-qualified emoji of ``emoji-test.txt``, in its order."""
    require(path)
    out, group = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        m = LINE.match(line)
        if m:
            text = "".join(chr(int(c, 16)) for c in m["cps"].split())
            out.append(Emoji(text, m["name"].strip(), group))
    return out


def read_keywords(path: Path = CLDR_EN) -> dict[str, list[str]]:
    """CLDR keywords per emoji sequence (variation selectors removed)."""
    require(path)
    keywords = {}
    for node in ET.parse(path).getroot().iter("annotation"):
        if node.get("type") != "tts" and node.text:
            keywords[node.get("cp", "").replace(VS16, "")] = [k.strip() for k in node.text.split("|") if k.strip()]
    return keywords


def attach_keywords(emoji: list[Emoji], keywords: dict[str, list[str]]) -> None:
    """Each emoji gets the keywords of its sequence, else of its base (no skin tones, no VS16)."""
    for e in emoji:
        bare = e.text.replace(VS16, "")
        base = "".join(c for c in bare if c not in SKIN_TONES)
        e.keywords = keywords.get(bare) or keywords.get(base) or []


class EmojiPainter:
    """Draws an emoji with Noto Color Emoji at its bitmap size, composited on white, scaled to
    ``size`` px. The glyph's drawn box is centred in a square whose side is the font's line height,
    so relative sizes stay as the font draws them."""

    def __init__(self, size: int = 64, font: Path = EMOJI_FONT) -> None:
        require(font)
        self.size = size
        self.font = ImageFont.truetype(str(font), EMOJI_BITMAP)
        ascent, descent = self.font.getmetrics()
        self.side = max(ascent + descent, 136)

    def draw(self, text: str) -> Image.Image | None:
        """The RGB image, or None when the font draws the sequence as more than one glyph
        (a sequence it does not know) or nothing."""
        canvas = Image.new("RGBA", (3 * self.side, 2 * self.side), (255, 255, 255, 0))
        ImageDraw.Draw(canvas).text((self.side // 2, self.side // 2), text, font=self.font, embedded_color=True)
        box = canvas.getbbox()
        if box is None or box[2] - box[0] > 1.3 * self.side:
            return None
        glyph = canvas.crop(box)
        square = Image.new("RGBA", (self.side, self.side), (255, 255, 255, 255))
        square.alpha_composite(glyph, ((self.side - glyph.width) // 2, (self.side - glyph.height) // 2))
        return square.convert("RGB").resize((self.size, self.size), Image.LANCZOS)
