"""Labelled preview grids of world samples (``synesthesia world show``)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from synesthesia.io import atomic_path
from synesthesia.world.attributes import WorldConfig
from synesthesia.world.world import ShapesWorld


def font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def labelled_grid(images: np.ndarray, labels: Sequence[str], columns: int, cell: int = 128,
                  row_titles: Sequence[str] | None = None, label_lines: int = 3) -> Image.Image:
    """Tile uint8 images (N, H, W, 3) into a grid with a wrapped label under each image."""
    n = len(images)
    rows = (n + columns - 1) // columns
    face = font(11)
    line_h = 13
    title_w = 70 if row_titles else 0
    cell_h = cell + 6 + line_h * label_lines
    canvas = Image.new("RGB", (title_w + columns * (cell + 8) + 8, rows * (cell_h + 8) + 8), "white")
    draw = ImageDraw.Draw(canvas)
    chars = max(8, cell // 6)
    for i in range(n):
        r, c = divmod(i, columns)
        x, y = title_w + 8 + c * (cell + 8), 8 + r * (cell_h + 8)
        canvas.paste(Image.fromarray(images[i]).resize((cell, cell), Image.NEAREST), (x, y))
        for k, line in enumerate(textwrap.wrap(labels[i], chars)[:label_lines]):
            draw.text((x, y + cell + 4 + k * line_h), line, fill="black", font=face)
    for r, title in enumerate(row_titles or []):
        draw.text((8, 8 + r * (cell_h + 8) + cell // 2), title, fill="black", font=font(14))
    return canvas


def preview_levels(levels: Sequence[int], per_level: int = 8, image_size: int = 64,
                   seed: int = 0, split: str = "train") -> Image.Image:
    """One row per level: ``per_level`` samples with their captions."""
    images, labels = [], []
    for level in levels:
        world = ShapesWorld(WorldConfig(level=level, image_size=image_size, seed=seed,
                                        modalities=("image", "text")))
        batch = world.render(split, np.arange(per_level))
        images.append(batch["image"])
        labels += batch["text"]
    return labelled_grid(np.concatenate(images), labels, per_level,
                         row_titles=[f"level {lv}" for lv in levels])


def save_image(img: Image.Image, out: str | Path) -> Path:
    with atomic_path(out) as tmp:
        img.save(tmp, format=(Path(out).suffix.lstrip(".") or "png").upper().replace("JPG", "JPEG"))
    return Path(out)
