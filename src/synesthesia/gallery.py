"""An HTML gallery of every direction a trained run serves, on held-out world samples.

``write_gallery(pipe, world, folder)`` writes ``folder/gallery.html`` plus the media it shows
(PNG, GIF, WAV) into ``folder/gallery/``. Everything is written into a temporary folder first.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PIL import Image

from synesthesia.io import atomic_dir, write_text_atomic
from synesthesia.modalities.files import write_gif, write_png, write_wav
from synesthesia.pipeline import Pipeline
from synesthesia.world.world import ShapesWorld

VISIBLE_IN_IMAGE = ("shape", "size", "colour", "position", "background")


def image_to_text_accuracy(pipe: Pipeline, world: ShapesWorld, n: int = 500, split: str = "test",
                           batch: int = 250) -> dict:
    """Exact-attribute accuracy of captions generated from images, scored with the caption
    parser on the attributes an image shows (motion is only in videos)."""
    from synesthesia.world.parser import parse_captions

    attrs = [a for a in world.config.varied if a in VISIBLE_IN_IMAGE]
    correct = {a: 0 for a in attrs}
    strict = 0
    for lo in range(0, n, batch):
        data = world.render(split, np.arange(lo, min(n, lo + batch)), ["image"])
        images = [Image.fromarray(x) for x in data["image"]]
        texts = [t[0] for t in pipe.generate("text", image=images, seed=lo)]
        parsed = parse_captions(texts)
        ok = np.ones(len(texts), dtype=bool)
        for a in attrs:
            hit = parsed[a] == data["codes"][a]
            correct[a] += int(hit.sum())
            ok &= hit
        strict += int(ok.sum())
    return {"strict": strict / n, "per_attribute": {a: c / n for a, c in correct.items()}, "n": n,
            "attributes": attrs}


def _img_tag(rel: str, size: int = 96) -> str:
    return f'<img src="{html.escape(rel)}" width="{size}" height="{size}" style="image-rendering:pixelated">'


def _audio_tag(rel: str) -> str:
    return f'<audio controls src="{html.escape(rel)}"></audio>'


def _section(title: str, rows: list[str]) -> str:
    body = "\n".join(f"<tr>{r}</tr>" for r in rows)
    return f"<h2>{html.escape(title)}</h2>\n<table>{body}</table>"


def write_gallery(pipe: Pipeline, world: ShapesWorld, folder: str | Path, n: int = 4,
                  per_input: int = 4, seed: int = 0, summary: dict | None = None) -> Path:
    """Write ``folder/gallery.html`` and ``folder/gallery/`` media; return the HTML path."""
    folder = Path(folder)
    mods = pipe.modalities
    data = world.render("test", np.arange(n))
    sr = world.config.sample_rate
    sections = []
    with atomic_dir(folder / "gallery", overwrite=True) as media:
        def rel(name: str) -> str:
            return f"gallery/{name}"

        images = [Image.fromarray(x) for x in data["image"]] if "image" in data else []
        if "text" in mods and "image" in mods:
            rows = []
            outs = pipe.generate("image", text=data["text"], n=per_input, seed=seed)
            for i, (caption, group) in enumerate(zip(data["text"], outs)):
                cells = []
                for k, img in enumerate(group):
                    write_png(img, media / f"t2i-{i}-{k}.png")
                    cells.append(f"<td>{_img_tag(rel(f't2i-{i}-{k}.png'))}</td>")
                rows.append(f"<td><b>{html.escape(caption)}</b></td>" + "".join(cells))
            sections.append(_section("text → image", rows))
            rows = []
            texts = pipe.generate("text", image=images, n=1, seed=seed)
            for i, (img, group) in enumerate(zip(images, texts)):
                write_png(img, media / f"i2t-{i}.png")
                rows.append(f"<td>{_img_tag(rel(f'i2t-{i}.png'))}</td><td>{html.escape(group[0])}</td>"
                            f"<td><i>truth: {html.escape(data['text'][i])}</i></td>")
            sections.append(_section("image → text", rows))
        if "text" in mods and "video" in mods:
            rows = []
            vids = pipe.generate("video", text=data["text"], n=1, seed=seed)
            for i, (caption, group) in enumerate(zip(data["text"], vids)):
                frames = np.stack([np.asarray(f) for f in group[0]])
                write_gif(frames, media / f"t2v-{i}.gif")
                rows.append(f"<td><b>{html.escape(caption)}</b></td><td>{_img_tag(rel(f't2v-{i}.gif'))}</td>")
            sections.append(_section("text → video", rows))
        if "audio" in mods and "image" in mods:
            rows = []
            sounds = [(w, sr) for w in data["audio"]]
            outs = pipe.generate("image", audio=sounds, n=per_input, seed=seed)
            for i, group in enumerate(outs):
                write_wav(data["audio"][i], sr, media / f"s2i-{i}.wav")
                cells = []
                for k, img in enumerate(group):
                    write_png(img, media / f"s2i-{i}-{k}.png")
                    cells.append(f"<td>{_img_tag(rel(f's2i-{i}-{k}.png'))}</td>")
                rows.append(f"<td>{_audio_tag(rel(f's2i-{i}.wav'))}</td>" + "".join(cells))
            sections.append(_section("sound → image", rows))
            rows = []
            outs = pipe.generate("audio", image=images, n=1, seed=seed)
            for i, group in enumerate(outs):
                wave, rate = group[0]
                write_wav(wave, rate, media / f"i2s-{i}.wav")
                rows.append(f"<td>{_img_tag(rel(f'i2t-{i}.png'))}</td><td>{_audio_tag(rel(f'i2s-{i}.wav'))}</td>")
            sections.append(_section("image → sound", rows))
        joint = pipe.sample(n=2 * n, seed=seed)
        rows = []
        for i in range(2 * n):
            cells = []
            if "image" in joint:
                write_png(joint["image"][i], media / f"joint-{i}.png")
                cells.append(f"<td>{_img_tag(rel(f'joint-{i}.png'))}</td>")
            if "text" in joint:
                cells.append(f"<td>{html.escape(joint['text'][i])}</td>")
            if "video" in joint:
                write_gif(np.stack([np.asarray(f) for f in joint["video"][i]]), media / f"joint-{i}.gif")
                cells.append(f"<td>{_img_tag(rel(f'joint-{i}.gif'))}</td>")
            if "audio" in joint:
                wave, rate = joint["audio"][i]
                write_wav(wave, rate, media / f"joint-{i}.wav")
                cells.append(f"<td>{_audio_tag(rel(f'joint-{i}.wav'))}</td>")
            rows.append("".join(cells))
        sections.append(_section("joint samples (all modalities from one latent)", rows))
    head = ""
    if summary:
        items = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in summary.items())
        head = f"<ul>{items}</ul>"
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>synesthesia gallery</title>"
            f"<style>body{{font-family:sans-serif}} td{{padding:4px;vertical-align:middle}}</style></head>"
            f"<body><h1>synesthesia: {html.escape(str(pipe.run or 'model'))}</h1>{head}"
            + "\n".join(sections) + "</body></html>")
    return write_text_atomic(folder / "gallery.html", page)


def text_to_image_grid(pipe: Pipeline, world: ShapesWorld, out: str | Path, n: int = 8,
                       per_input: int = 4, seed: int = 0) -> Path:
    """A labelled PNG grid: each test caption beside ``per_input`` generated images."""
    from synesthesia.world.preview import labelled_grid, save_image

    data = world.render("test", np.arange(n), ["text"])
    outs = pipe.generate("image", text=data["text"], n=per_input, seed=seed)
    images = np.stack([np.asarray(img) for group in outs for img in group])
    labels = [t if k == 0 else "" for t in data["text"] for k in range(per_input)]
    return save_image(labelled_grid(images, labels, per_input, cell=96), out)


__all__ = ["write_gallery", "image_to_text_accuracy", "text_to_image_grid"]
