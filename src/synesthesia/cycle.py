"""The image -> text -> image -> ... cycle, from a caption or an image, with one run or several.

Each round turns the current sample of the start's modality into the other one and back, on
the pipeline's own outputs (pixels clipped to [0, 1] before they are given back, as a real image
would be). :func:`cycle_tensors` is the loop in model form (what the evaluation suite scores);
:func:`run_cycle` runs it from raw values and, on the shapes world, measures after every round how
many of the attributes the start names each output keeps (a caption read by the parser, an image
by the world's image oracle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from synesthesia.errors import SynesthesiaError
from synesthesia.world import WorldConfig
from synesthesia.world.judges.oracles import get_oracle
from synesthesia.world.parser import parse_captions

OTHER = {"image": "text", "text": "image"}

@dataclass
class CycleResult:
    """``images[r][i]`` and ``captions[r][i]``: round r (0 is the start) of chain i;
    ``agreement[r - 1]`` scores round r against the start (empty off the shapes world)."""

    images: list[list[Image.Image]]
    captions: list[list[str]]
    agreement: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"captions": self.captions, "agreement": self.agreement}

def _canonical(modality: str, x: torch.Tensor) -> torch.Tensor:
    """A generated tensor as the model would receive a real one: pixels within [0, 1]."""
    return x.clamp(0, 1) if modality in ("image", "video") else x

def _handover(x: torch.Tensor, modality: str, source, target, device) -> torch.Tensor:
    """An output of run ``source`` as an input of run ``target``: the same tensor when one run
    does both, else decoded by the one and encoded by the other (their codecs, e.g. tokenizers,
    may differ)."""
    if source is target:
        return x
    raws = source.modalities[modality].decode(x.float().cpu() if x.is_floating_point() else x.cpu())
    return target.modalities[modality].encode(raws).to(device)

@torch.no_grad()
def cycle_tensors(pipe, start: str, x: torch.Tensor, rounds: int, seed: int = 0, temperature: float = 1.0,
                  **generate) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``start -> other -> start`` ``rounds`` times from ``x`` (model form, as the run serving
    ``start -> other`` encodes it): per round, the other modality's output and the start
    modality's output, each in the form of the run that made it (see :func:`cycle_runs`)."""
    if start not in OTHER:
        raise SynesthesiaError(f"the cycle starts from image or text, not {start!r}")
    if rounds < 1:
        raise SynesthesiaError(f"rounds must be at least 1, got {rounds}")
    via = OTHER[start]
    there, back = cycle_runs(pipe, start)
    out, current = [], x
    for r in range(1, rounds + 1):
        mid = pipe.generate_tensors({start: current}, [via], pipe.generator(seed + 10 + r), temperature,
                                    run=there, **generate)[via]
        mid = _canonical(via, mid)
        new = pipe.generate_tensors({via: _handover(mid, via, there, back, pipe.device)}, [start],
                                    pipe.generator(seed + 20 + r), temperature, run=back, **generate)[start]
        new = _canonical(start, new)
        out.append((mid, new))
        current = _handover(new, start, back, there, pipe.device)
    return out

def cycle_runs(pipe, start: str):
    """The runs serving ``start -> other`` and ``other -> start``."""
    return pipe.route([start], OTHER[start]), pipe.route([OTHER[start]], start)

def world_of(pipe) -> WorldConfig | None:
    """The shapes world a pipeline's run was trained on, or None (users' data)."""
    config = getattr(pipe, "config", None)
    data = getattr(config, "data", None)
    if data is None or getattr(data, "users_data", None):
        return None
    return data.world

def _readers(world: WorldConfig | None) -> tuple[Callable, Callable] | None:
    """(read captions, read images) -> attribute codes, on a shapes world; None elsewhere."""
    if world is None or "image" not in world.modalities:
        return None

    oracle = get_oracle(world, "image")
    attrs = [a for a in world.varied if a in oracle.attributes]

    def read_text(captions):
        parsed = parse_captions(captions)
        return {a: parsed[a] for a in attrs}

    def read_images(images):
        pred = oracle.predict(np.stack([np.asarray(i.convert("RGB")) for i in images]))
        return {a: pred[a] for a in attrs}
    return read_text, read_images

def agreement(start: dict, caption: dict, image: dict) -> dict:
    """Fraction of chains whose caption, image, and both keep every attribute the start names
    (-1 in ``start``: not named)."""
    named = {a: v >= 0 for a, v in start.items()}
    keep_t = np.all([(caption[a] == start[a]) | ~named[a] for a in start], axis=0)
    keep_i = np.all([(image[a] == start[a]) | ~named[a] for a in start], axis=0)
    return {"caption": float(keep_t.mean()), "image": float(keep_i.mean()),
            "both": float((keep_t & keep_i).mean())}

def run_cycle(pipe, text: str | list[str] | None = None, image: Any = None, rounds: int = 5,
              seed: int = 0) -> CycleResult:
    """The cycle from ``text`` or ``image`` (one value or a list, each starting a chain)."""
    if (text is None) == (image is None):
        raise SynesthesiaError("start the cycle from text=... or from image=..., not both or neither")
    start = "text" if text is not None else "image"
    raws = text if start == "text" else image
    raws = [raws] if isinstance(raws, (str, Path, Image.Image, np.ndarray)) else list(raws)
    there, back = cycle_runs(pipe, start)
    x = there.modalities[start].encode([str(r) if isinstance(r, Path) else r for r in raws]).to(pipe.device)
    steps = cycle_tensors(pipe, start, x, rounds, seed)
    first = there.modalities[start].decode(x.cpu())
    images = [first if start == "image" else []]
    captions = [first if start == "text" else []]
    for mid, new in steps:
        outs = {OTHER[start]: there.modalities[OTHER[start]].decode(mid.cpu()),
                start: back.modalities[start].decode(new.cpu())}
        images.append(outs["image"])
        captions.append(outs["text"])
    result = CycleResult(images, captions)
    readers = _readers(world_of(pipe))
    if readers is not None:
        read_text, read_images = readers
        origin = read_text(first) if start == "text" else read_images(first)
        result.agreement = [{"round": r, **agreement(origin, read_text(captions[r]), read_images(images[r]))}
                            for r in range(1, rounds + 1)]
    return result
