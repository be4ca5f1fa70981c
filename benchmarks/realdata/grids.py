"""Picture grids a person can judge by eye: one per direction, one column per test sample.

A cell stacks the input over the output: images as they are (scaled up), sounds as a strip (the
log-mel spectrogram with its loudness envelope under it, both drawn from the spectrogram itself:
no Griffin-Lim for a picture), captions as text under the pictures, with what the judge read when
there is a judge. Written as small PNGs.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from synesthesia.modalities.dsp import DB_CENTRE, DB_SCALE
from synesthesia.world.preview import font, save_image

CELL = 96                    # side of a picture in the grid
LINE = 12                    # height of a line of text


def picture(modality, x: torch.Tensor) -> Image.Image:
    """One sample in model form as a picture: an image, or a sound's strip."""
    if modality.name == "image":
        return Image.fromarray(modality.decode_batch(x[None])[0]).resize((CELL, CELL), Image.NEAREST)
    if modality.name == "audio":
        return sound_strip(x)
    raise ValueError(f"no picture for {modality.name}")


def sound_strip(mel: torch.Tensor) -> Image.Image:
    """The log-mel spectrogram ``(n_mels, frames)`` (low frequencies at the bottom) over its
    loudness envelope (each frame's energy, relative to the loudest frame, drawn like a waveform)."""
    import matplotlib

    m = mel.float().cpu().numpy()
    norm = (m - m.min()) / max(1e-6, float(m.max() - m.min()))
    rgb = (matplotlib.colormaps["magma"](norm[::-1])[..., :3] * 255).astype(np.uint8)
    spec = Image.fromarray(rgb).resize((CELL, CELL * 2 // 3), Image.BILINEAR)
    strip = Image.new("RGB", (CELL, CELL), "white")
    strip.paste(spec, (0, 0))
    db = m * DB_SCALE + DB_CENTRE                                        # the codec's normalisation undone
    energy = (10.0 ** ((db - db.max()) / 10.0)).sum(0)                   # (frames,) mel power
    env = np.sqrt(np.interp(np.linspace(0, len(energy) - 1, CELL), np.arange(len(energy)), energy)
                  / max(1e-12, float(energy.max())))                     # amplitude, 0..1
    draw = ImageDraw.Draw(strip)
    h, top = CELL - spec.height, spec.height
    mid = top + h // 2
    for x, a in enumerate(env):
        draw.line([(x, mid - a * (h // 2 - 1)), (x, mid + a * (h // 2 - 1))], fill=(40, 40, 160))
    return strip


def sheet(columns: Sequence[tuple[Sequence[Image.Image], str]], title: str, per_row: int = 8,
          label_lines: int = 6) -> Image.Image:
    """Cells of stacked pictures with a wrapped label under each, ``per_row`` to a row, and a title."""
    stack = max(len(p) for p, _ in columns)
    cell_w, cell_h = CELL + 8, stack * (CELL + 2) + 6 + LINE * label_lines
    rows = (len(columns) + per_row - 1) // per_row
    canvas = Image.new("RGB", (8 + per_row * cell_w, 28 + rows * (cell_h + 8)), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((8, 6), title, fill="black", font=font(14))
    face = font(10)
    for i, (pictures, label) in enumerate(columns):
        r, c = divmod(i, per_row)
        x, y = 8 + c * cell_w, 28 + r * (cell_h + 8)
        for k, pic in enumerate(pictures):
            canvas.paste(pic, (x, y + k * (CELL + 2)))
        lines = [w for part in label.split("\n") for w in textwrap.wrap(part, 17)][:label_lines]
        for k, line in enumerate(lines):
            draw.text((x, y + stack * (CELL + 2) + 2 + k * LINE), line, fill="black", font=face)
    return canvas


def direction_grid(pipe, given: Sequence[str], target: str, tensors: dict[str, torch.Tensor], outputs,
                   labels: Sequence[str], title: str, out: str | Path, k: int = 16) -> Path:
    """The grid of one direction: per sample, the given pictures (images, sound strips) over the
    output picture (none when the output is a caption, which the label then holds)."""
    mods = pipe.modalities
    columns = []
    for i in range(min(k, len(labels))):
        pics = [picture(mods[g], tensors[g][i]) for g in given if g != "text"]
        if target != "text":
            pics.append(picture(mods[target], outputs[i]))
        columns.append((pics, labels[i]))
    return save_image(sheet(columns, title).quantize(256, dither=Image.Dither.NONE), out)
