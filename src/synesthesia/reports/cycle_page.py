"""The cycle's page: ``cycle.png`` (the chain's images with their captions), ``cycle.html`` and
``cycle.json`` (captions and the agreement with the start after each round)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw

from synesthesia.cycle import CycleResult
from synesthesia.io import write_into, write_text_atomic
from synesthesia.reports import html
from synesthesia.world.preview import font

CYCLE_FILES = ("cycle.png", "cycle.html", "cycle.json")


def cycle_strip(result: CycleResult, chain: int = 0, cell: int = 128) -> Image.Image:
    """Round by round, the chain's image with its caption underneath (wrapped, whole)."""
    rows = [(imgs[chain] if imgs else None, caps[chain] if caps else "")
            for imgs, caps in zip(result.images, result.captions)]
    wrapped = [textwrap.wrap(f"{k}: {cap}", 20) for k, (_, cap) in enumerate(rows)]
    text_h = 14 * max(len(w) for w in wrapped) + 8
    canvas = Image.new("RGB", (len(rows) * (cell + 10) + 10, cell + text_h + 20), "white")
    draw = ImageDraw.Draw(canvas)
    for k, ((img, _), lines) in enumerate(zip(rows, wrapped)):
        x = 10 + k * (cell + 10)
        if img is not None:
            canvas.paste(img.convert("RGB").resize((cell, cell), Image.NEAREST), (x, 10))
        for j, line in enumerate(lines):
            draw.text((x, cell + 14 + 14 * j), line, fill="black", font=font(11))
    return canvas


def write_cycle(result: CycleResult, folder: str | Path, chain: int = 0, overwrite: bool = False) -> Path:
    """Write the three files into ``folder`` (created if missing; its other files are left alone;
    the three are replaced only with ``overwrite``), all or none."""
    folder = Path(folder)
    with write_into(folder, CYCLE_FILES, overwrite) as tmp:
        cycle_strip(result, chain).save(tmp / "cycle.png", format="PNG")
        write_text_atomic(tmp / "cycle.json", json.dumps(result.to_dict(), indent=2))
        captions = "".join(f"<li>{html.esc(c[chain] if c else '')}</li>" for c in result.captions)
        rows = [[a["round"], a["caption"], a["image"], a["both"]] for a in result.agreement]
        body = ["<h1>image → text → image cycle</h1>", "<img src='cycle.png' alt='the cycle'>",
                f"<ol start='0'>{captions}</ol>"]
        if rows:
            body.append(html.table(["round", "caption keeps start", "image keeps start", "both"], rows))
        write_text_atomic(tmp / "cycle.html", html.page("cycle", body))
    return folder
