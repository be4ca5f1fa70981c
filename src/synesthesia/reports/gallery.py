"""A run's gallery: every single-input direction it serves, on held-out samples of its world, and
joint samples, as one HTML page with playable media.

``write_gallery(pipe, folder)`` writes ``folder/gallery.html`` and the media it shows into
``folder/gallery/`` (a temporary folder renamed into place); ``image_to_text_accuracy`` and
``text_to_image_grid`` are the quickstart's figure and picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from synesthesia.cycle import world_of
from synesthesia.errors import OutputError, SynesthesiaError
from synesthesia.io import atomic_dir, write_text_atomic
from synesthesia.reports import html
from synesthesia.world.judges.coherence import coherence
from synesthesia.world.judges.oracles import SHOWN
from synesthesia.world.parser import parse_captions
from synesthesia.world.preview import labelled_grid, save_image
from synesthesia.world.world import ShapesWorld

EXTENSION = {"image": "png", "audio": "wav", "video": "mp4"}

def _world(pipe) -> ShapesWorld:
    world = world_of(pipe)
    if world is None:
        raise SynesthesiaError("this run was trained on users' files; galleries and the quickstart's figures "
                               "use the shapes world's test samples")
    return ShapesWorld(world)

def image_to_text_accuracy(pipe, n: int = 500, split: str = "test", batch: int = 250) -> dict:
    """Exact-attribute accuracy of captions generated from ``n`` test images, read by the caption
    parser on the attributes an image shows."""
    world = _world(pipe)
    attrs = [a for a in world.config.varied if a in SHOWN["image"]]
    parsed, truth = [], []
    for lo in range(0, n, batch):
        data = world.render(split, np.arange(lo, min(n, lo + batch)), ["image"])
        texts = [t[0] for t in pipe.generate("text", image=[Image.fromarray(x) for x in data["image"]], seed=lo)]
        parsed.append(parse_captions(texts))
        truth.append(data["codes"])
    joined = {k: {a: np.concatenate([p[a] for p in part]) for a in attrs} for k, part in (("p", parsed), ("t", truth))}
    score = coherence(joined["p"], joined["t"], attrs)
    return {"strict": score.strict, "per_attribute": score.per_attribute, "n": n, "attributes": attrs}

def text_to_image_grid(pipe, out: str | Path, n: int = 8, per_input: int = 4, seed: int = 0) -> Path:
    """A labelled PNG grid: each test caption beside ``per_input`` generated images."""

    data = _world(pipe).render("test", np.arange(n), ["text"])
    outs = pipe.generate("image", text=data["text"], n=per_input, seed=seed)
    images = np.stack([np.asarray(img) for group in outs for img in group])
    labels = [t if k == 0 else "" for t in data["text"] for k in range(per_input)]
    return save_image(labelled_grid(images, labels, per_input, cell=96, label_lines=4), out)

class _Media:
    """Writes gallery media into a folder and returns the tag showing each."""

    def __init__(self, folder: Path, modalities) -> None:
        self.folder, self.modalities = folder, modalities
        self.count = {m: 0 for m in EXTENSION}

    def cell(self, modality: str, raw: Any) -> str:
        if modality == "text":
            return html.esc(raw)
        self.count[modality] += 1
        name = f"{modality}-{self.count[modality]:03d}.{EXTENSION[modality]}"
        self.modalities[modality].write(raw, self.folder / name)
        tag = {"image": html.img, "audio": html.audio, "video": html.video}[modality]
        return tag(f"gallery/{name}")

def _inputs(world: ShapesWorld, n: int, modalities) -> dict[str, list]:
    """Test samples as raw inputs per modality."""
    data = world.render("test", np.arange(n), list(modalities))
    out = {}
    for m in modalities:
        if m == "image":
            out[m] = [Image.fromarray(x) for x in data[m]]
        elif m == "video":
            out[m] = [[Image.fromarray(f) for f in clip] for clip in data[m]]
        elif m == "audio":
            out[m] = [(w, world.config.sample_rate) for w in data[m]]
        else:
            out[m] = list(data[m])
    return out

def write_gallery(pipe, folder: str | Path, n: int = 4, per_input: int = 4, seed: int = 0,
                  summary: dict | None = None, overwrite: bool = False) -> Path:
    """Write ``folder/gallery.html`` and ``folder/gallery/``; return the page. An existing gallery
    is replaced only with ``overwrite``."""
    folder = Path(folder)
    if (folder / "gallery.html").exists() and not overwrite:
        raise OutputError(f"{folder} already has a gallery; pass --overwrite to replace it")
    world = _world(pipe)
    mods = [m for m in pipe.modalities if m in world.config.modalities]
    inputs = _inputs(world, n, mods)
    sections = []
    with atomic_dir(folder / "gallery", overwrite=overwrite) as tmp:
        media = _Media(tmp, pipe.modalities)
        for given, target in pipe.directions():
            if len(given) != 1 or given[0] not in inputs:
                continue
            k = 1 if target == "text" else per_input
            outs = pipe.generate(target, **{given[0]: inputs[given[0]]}, n=k, seed=seed)
            rows = [[media.cell(given[0], x)] + [media.cell(target, y) for y in group]
                    for x, group in zip(inputs[given[0]], outs)]
            sections.append(f"<h2>{html.esc(given[0])} → {html.esc(target)}</h2>" + html.table([], rows, raw=True))
        try:
            joint = pipe.sample(n=2 * n, seed=seed)
        except SynesthesiaError:
            joint = None
        if joint:
            rows = [[media.cell(m, joint[m][i]) for m in joint] for i in range(2 * n)]
            sections.append("<h2>joint samples (every modality from one draw)</h2>"
                            + html.table(list(joint), rows, raw=True))
    head = []
    if summary:
        head = ["<ul>" + "".join(f"<li>{html.esc(k)}: {html.esc(v)}</li>" for k, v in summary.items()) + "</ul>"]
    title = f"synesthesia: {pipe.run or 'model'}"
    return write_text_atomic(folder / "gallery.html", html.page(title, [f"<h1>{html.esc(title)}</h1>", *head, *sections]))

__all__ = ["image_to_text_accuracy", "text_to_image_grid", "write_gallery"]
