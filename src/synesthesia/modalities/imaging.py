"""Images from anywhere -> uint8 RGB squares, by a documented policy.

Reading a file (:func:`open_image`): the header is read first and the image refused, before any
pixel is decoded, when it declares no pixels or more than ``limits.image_pixels`` would be decoded.
A JPEG larger than needed is decoded at a reduced scale (Pillow's ``draft``: 1/2, 1/4 or 1/8, the
smallest that still covers the target size), so a 12,000 x 12,000 photo is read as 1,500 x 1,500
without allocating the whole; other formats have no reduced decode and count whole. EXIF
orientation is applied.

Modes (:func:`to_rgb`): RGBA, LA and palette images with transparency are composited on
``background``; 16-bit (and 32-bit integer) greyscale is scaled to 8 bits (value / 257); palette,
greyscale, bilevel, CMYK, YCbCr, LAB and HSV are converted to RGB by Pillow.

Size (:func:`fit`), ``fit`` option of the image and video modalities:

* ``crop`` (default): the shorter side is scaled to S, then the centre S x S is kept;
* ``pad``: the longer side is scaled to S and the rest filled with ``background`` (letterbox);
* ``squash``: scaled to S x S whatever the aspect (the shape is distorted).

Resampling is bicubic with Pillow's antialiasing. Every adaptation is reported in one
:class:`~synesthesia.modalities.base.InputAdjusted` warning per kind and batch.
"""

from __future__ import annotations

import contextlib
import math
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from synesthesia.limits import LimitExceeded, exceeded, get_limits
from synesthesia.modalities.base import ModalityError
from synesthesia.modalities.media import SOUND_FORMATS, Notes, check_file, unreadable

FITS = ("crop", "pad", "squash")
JPEG_REDUCTION = 8                    # the largest scale-down a JPEG's draft decode offers
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_WIDE_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
_PILLOW_LOCK = threading.Lock()


def check_fit(fit: str, background: Sequence[int]) -> tuple[str, tuple[int, int, int]]:
    """Validated ``fit`` and ``background`` options of a visual modality."""
    if fit not in FITS:
        raise ModalityError(f"fit must be one of {', '.join(FITS)}; got {fit!r}")
    bg = tuple(background) if isinstance(background, (list, tuple)) else ()
    if len(bg) != 3 or not all(isinstance(v, int) and 0 <= v <= 255 for v in bg):
        raise ModalityError(f"background must be three integers in 0..255 (R, G, B); got {background!r}")
    return fit, bg  # type: ignore[return-value]


@contextlib.contextmanager
def _header_cap() -> Iterator[None]:
    """Let Pillow open headers up to what a JPEG draft could bring under ``limits.image_pixels``
    (its own bomb check raises above twice ``MAX_IMAGE_PIXELS``); :func:`open_image` checks the
    exact figure right after."""
    with _PILLOW_LOCK:
        old = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = get_limits().image_pixels * JPEG_REDUCTION ** 2 // 2
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                yield
        finally:
            Image.MAX_IMAGE_PIXELS = old


def needed_size(size: tuple[int, int], target: int, fit: str) -> tuple[int, int]:
    """The smallest (w, h) of the same aspect that ``fit`` to ``target`` px needs without upscaling."""
    w, h = size
    scale = {"crop": target / min(w, h), "pad": target / max(w, h), "squash": target / min(w, h)}[fit]
    return max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))


def open_image(path: str | Path, target: int | None = None, fit: str = "crop") -> Image.Image:
    """Read an image file, checked and (for a JPEG larger than ``target`` needs) drafted; EXIF
    orientation applied. Any decoder failure is a ModalityError naming the file."""
    path, found = check_file(path, "image", refuse=SOUND_FORMATS | {"MP4/MOV video", "Matroska/WebM video"})
    try:
        with _header_cap():
            img = Image.open(path)
    except Image.DecompressionBombError as err:
        raise LimitExceeded(f"image {path} declares more pixels than limits.image_pixels allows "
                            f"({err}); raise it with --set limits.image_pixels=... or "
                            "synesthesia.limits.set_limits(image_pixels=...) if you trust the file") from None
    except (OSError, ValueError, SyntaxError, EOFError) as err:     # UnidentifiedImageError is an OSError
        raise unreadable(path, "image", found, err) from None
    with img:
        w, h = img.size
        if w == 0 or h == 0:
            raise ModalityError(f"image {path} is {w}x{h} px: it has no pixels")
        if target is not None and img.format == "JPEG":
            img.draft("RGB" if img.mode in ("RGB", "YCbCr") else img.mode, needed_size((w, h), target, fit))
        if img.size[0] * img.size[1] > get_limits().image_pixels:
            raise exceeded(f"image {path} ({w}x{h} px)", img.size[0] * img.size[1], "image_pixels", " pixels")
        try:
            img.load()
            return ImageOps.exif_transpose(img)
        except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as err:
            raise unreadable(path, "image", found, err) from None


def from_array(arr: np.ndarray, what: str = "image") -> Image.Image:
    """A uint8 (H, W), (H, W, 1|3|4) or uint16 (H, W) array as a PIL image."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    ok = (arr.dtype == np.uint8 and (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4)))) or \
         (arr.dtype == np.uint16 and arr.ndim == 2)
    if not ok:
        raise ModalityError(f"{what} arrays must be uint8 (H, W), (H, W, 3) or (H, W, 4), or uint16 "
                            f"(H, W); got {arr.dtype} {arr.shape}")
    if arr.dtype == np.uint16:
        return Image.fromarray(arr.astype(np.int32), mode="I")
    return Image.fromarray(np.ascontiguousarray(arr))


def to_rgb(img: Image.Image, background: tuple[int, int, int], notes: Notes) -> Image.Image:
    """Any Pillow mode -> RGB (see the module docstring), noting what was done."""
    mode = img.mode
    if mode in _WIDE_GREY:
        arr = np.asarray(img, dtype=np.float64)
        wide = mode != "F" and (mode.startswith("I;16") or arr.max(initial=0) > 255)
        arr = arr / 257.0 if wide else arr
        notes.add(f"{'16-bit' if wide else mode} greyscale scaled to 8-bit RGB")
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        notes.add("palette converted to RGB")
    if img.mode in _ALPHA_MODES:
        rgba = img.convert("RGBA")
        if rgba.getextrema()[3][0] < 255:
            notes.add(f"transparency composited on background {background}")
        canvas = Image.new("RGB", rgba.size, background)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    if img.mode != "RGB":
        notes.add(f"mode {img.mode} converted to RGB")
        img = img.convert("RGB")
    return img


def fit_square(img: Image.Image, size: int, fit: str, background: tuple[int, int, int],
               notes: Notes) -> np.ndarray:
    """An RGB image -> uint8 (size, size, 3) by the ``fit`` policy."""
    w, h = img.size
    if (w, h) == (size, size):
        return np.asarray(img, dtype=np.uint8)
    how = {"crop": "shorter side, then centre crop", "pad": f"longer side, padded with {background}",
           "squash": "aspect not kept"}[fit]
    notes.add(f"resized to {size}x{size} px ({how})", f"{w}x{h} px")
    if fit == "squash":
        out = img.resize((size, size), Image.BICUBIC)
    elif fit == "crop":
        side = min(w, h)
        box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
        out = img.resize((size, size), Image.BICUBIC, box=box)
    else:
        scale = size / max(w, h)
        inner = (max(1, round(w * scale)), max(1, round(h * scale)))
        out = Image.new("RGB", (size, size), background)
        out.paste(img.resize(inner, Image.BICUBIC), ((size - inner[0]) // 2, (size - inner[1]) // 2))
    return np.asarray(out, dtype=np.uint8)


def to_rgb_array(raw: Any, size: int, notes: Notes, fit: str = "crop",
                 background: tuple[int, int, int] = (255, 255, 255), what: str = "image") -> np.ndarray:
    """A PIL image, a path or an array -> uint8 (size, size, 3) by the policies above."""
    if isinstance(raw, (str, Path)):
        raw = open_image(raw, size, fit)
    elif isinstance(raw, np.ndarray):
        raw = from_array(raw, what)
    if not isinstance(raw, Image.Image):
        raise ModalityError(f"an {what} must be a PIL image, a file path or a uint8 (H, W, 3) array; "
                            f"got {type(raw).__name__}")
    if raw.size[0] == 0 or raw.size[1] == 0:
        raise ModalityError(f"an {what} of {raw.size[0]}x{raw.size[1]} px has no pixels")
    return fit_square(to_rgb(raw, background, notes), size, fit, background, notes)


def read_image(path: str | Path) -> Image.Image:
    """Read a whole image file (checked against the limits; EXIF orientation applied)."""
    return open_image(path)
