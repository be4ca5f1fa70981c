"""The image -> text -> image -> ... cycle, from a caption or an image, with one model or several.

Each round draws an image from the current caption and a caption from that image (starting from
an image, the caption comes first). On the shapes world, agreement with the start is measured
after every round: the attributes the start names (a parsed caption, or an image read by the
world's image oracle) against those of the round's caption (parsed) and image (oracle).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from synesthesia.errors import SynesthesiaError


@dataclass
class CycleResult:
    """``images[r][i]`` and ``captions[r][i]``: round r (0 is the start) of chain i;
    ``agreement[r - 1]`` scores round r against the start (None off the shapes world)."""

    images: list[list[Image.Image]]
    captions: list[list[str]]
    agreement: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"captions": self.captions, "agreement": self.agreement}


def _world(pipe):
    from synesthesia.world import WorldConfig

    config = getattr(pipe, "config", None)
    world = getattr(getattr(config, "data", None), "world", None)
    return WorldConfig.from_dict(world) if world else None


def _readers(pipe):
    """(read captions, read images) -> attribute codes, on the run's world; None elsewhere."""
    world = _world(pipe)
    if world is None or "image" not in world.modalities:
        return None
    from synesthesia.evaluation.oracles import get_oracle
    from synesthesia.world.parser import parse_captions

    oracle = get_oracle(world, "image")
    attrs = [a for a in world.varied if a in oracle.attributes]

    def read_text(captions):
        parsed = parse_captions(captions)
        return {a: parsed[a] for a in attrs}

    def read_images(images):
        pred = oracle.predict(np.stack([np.asarray(i.convert("RGB")) for i in images]))
        return {a: pred[a] for a in attrs}
    return read_text, read_images


def _agreement(start: dict, caption: dict, image: dict) -> dict:
    """Fraction of the start's named attributes each output keeps, and of chains that keep all."""
    named = {a: v >= 0 for a, v in start.items()}
    keep_t = np.all([(caption[a] == start[a]) | ~named[a] for a in start], axis=0)
    keep_i = np.all([(image[a] == start[a]) | ~named[a] for a in start], axis=0)
    return {"caption": float(keep_t.mean()), "image": float(keep_i.mean()),
            "both": float((keep_t & keep_i).mean())}


def run_cycle(pipe, text: str | list[str] | None = None, image: Any = None, rounds: int = 5,
              seed: int = 0) -> CycleResult:
    """Alternate image and text generation ``rounds`` times from ``text`` or ``image`` (one value
    or a list, each starting a chain)."""
    if (text is None) == (image is None):
        raise SynesthesiaError("start the cycle from text=... or from image=..., not both or neither")
    if rounds < 1:
        raise SynesthesiaError(f"rounds must be at least 1, got {rounds}")
    texts = ([text] if isinstance(text, str) else list(text)) if text is not None else None
    imgs = ([image] if not isinstance(image, list) else list(image)) if image is not None else None
    if imgs is not None:
        imgs = [Image.open(i).convert("RGB") if isinstance(i, (str, Path)) else i for i in imgs]
    readers = _readers(pipe)
    images, captions, agreement = [imgs or []], [texts or []], []
    start = None
    if readers:
        start = readers[0](texts) if texts is not None else readers[1](imgs)
    for r in range(1, rounds + 1):
        if texts is not None:
            imgs = [g[0] for g in pipe.generate("image", text=texts, seed=seed + r)]
            texts = [g[0] for g in pipe.generate("text", image=imgs, seed=seed + 100 + r)]
        else:
            texts = [g[0] for g in pipe.generate("text", image=imgs, seed=seed + 100 + r)]
            imgs = [g[0] for g in pipe.generate("image", text=texts, seed=seed + r)]
        images.append(imgs)
        captions.append(texts)
        if readers:
            agreement.append({"round": r, **_agreement(start, readers[0](texts), readers[1](imgs))})
    return CycleResult(images, captions, agreement)


def write_cycle(result: CycleResult, out: str | Path, chain: int = 0, overwrite: bool = True) -> Path:
    """``out/cycle.png`` (the chain's image strip with captions), ``out/cycle.html`` and
    ``out/cycle.json``, written into a temporary folder renamed into place."""
    from PIL import ImageDraw

    from synesthesia.io import atomic_dir, write_text_atomic
    from synesthesia.world.preview import _font

    rows = [(imgs[chain] if imgs else None, caps[chain] if caps else "")
            for imgs, caps in zip(result.images, result.captions)]
    cell, text_h = 128, 64
    canvas = Image.new("RGB", (len(rows) * (cell + 10) + 10, cell + text_h + 20), "white")
    draw = ImageDraw.Draw(canvas)
    for k, (img, cap) in enumerate(rows):
        x = 10 + k * (cell + 10)
        if img is not None:
            canvas.paste(img.convert("RGB").resize((cell, cell), Image.NEAREST), (x, 10))
        import textwrap

        for j, line in enumerate(textwrap.wrap(f"{k}: {cap}", 20)[:4]):
            draw.text((x, cell + 14 + 14 * j), line, fill="black", font=_font(11))
    with atomic_dir(out, overwrite=overwrite) as tmp:
        canvas.save(tmp / "cycle.png")
        write_text_atomic(tmp / "cycle.json", json.dumps(result.to_dict(), indent=2))
        agree = "".join(f"<tr><td>{a['round']}</td><td>{a['caption']:.3f}</td><td>{a['image']:.3f}</td>"
                        f"<td>{a['both']:.3f}</td></tr>" for a in result.agreement)
        caps = "".join(f"<li>{html.escape(c)}</li>" for c, _ in ((r[1], None) for r in rows))
        page = ("<!doctype html><html><head><meta charset='utf-8'><title>cycle</title></head><body>"
                "<h1>image → text → image cycle</h1><img src='cycle.png'>"
                f"<ol start='0'>{caps}</ol>"
                + (f"<table><tr><th>round</th><th>caption keeps start</th><th>image keeps start</th>"
                   f"<th>both</th></tr>{agree}</table>" if agree else "") + "</body></html>")
        write_text_atomic(tmp / "cycle.html", page)
    return Path(out)
