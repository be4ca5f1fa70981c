"""Several trained runs behind one pipeline: each direction goes to the model best able to serve
it, or to the one the user names.

    pipe = syn.load("runs/gan", "runs/captioner", "runs/vae",
                    routes={"text->image": "runs/gan", "image->text": "runs/captioner"})
    pipe.generate(to="image", text="a big red star")     # the GAN
    pipe.generate(to="text", image=img)                   # the captioner
    pipe.generate(to="image", audio="clip.wav")           # the joint VAE: the only one with sound

Without a route, a direction goes to the run whose recorded evaluation (``synesthesia evaluate``
writes it into the run's metrics.json) scores it highest; runs never evaluated on it rank by
family (:data:`FAMILY_PREFERENCE`), then by the order they were given.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from synesthesia.pipeline import Pipeline, PipelineError

# target modality -> families from most to least preferred when nothing was measured
FAMILY_PREFERENCE: dict[str, tuple[str, ...]] = {
    "text": ("transformer", "joint_vae", "gan"),
    "image": ("gan", "transformer", "joint_vae"),
    "video": ("gan", "transformer", "joint_vae"),
    "audio": ("joint_vae", "transformer", "gan"),
}


def parse_direction(name: str) -> tuple[frozenset[str], str]:
    """``"image+audio->text"`` -> ({"image", "audio"}, "text")."""
    if "->" not in name:
        raise PipelineError(f"route {name!r} must read 'given->target', e.g. 'text->image' or 'image+audio->text'")
    given, target = name.split("->", 1)
    return frozenset(g.strip() for g in given.split("+") if g.strip()), target.strip()


def served(pipe: Pipeline) -> set[tuple[frozenset[str], str]]:
    model = pipe.model
    if hasattr(model, "directions"):
        return {(frozenset(g), t) for g, t in model.directions()}
    names = list(pipe.modalities)
    from synesthesia.evaluation.generation import all_directions

    return {(frozenset(g), t) for g, t in all_directions(names)}


def recorded_score(pipe: Pipeline, given: frozenset[str], target: str) -> float:
    """Strict coherence of this direction in the run's recorded evaluation, or nan."""
    if pipe.run is None or not (Path(pipe.run) / "metrics.json").is_file():
        return float("nan")
    recorded = json.loads((Path(pipe.run) / "metrics.json").read_text()).get("evaluation", {})
    for name, score in recorded.get("coherence", {}).items():
        g, t = parse_direction(name)
        if g == given and t == target:
            return float(score)
    return float("nan")


class ComposedPipeline:
    """Routes each generation request to one of several :class:`Pipeline`s."""

    def __init__(self, pipelines: Sequence[Pipeline], routes: Mapping[str, str | Path] | None = None) -> None:
        if not pipelines:
            raise PipelineError("compose at least one run")
        self.pipelines = list(pipelines)
        self.routes: dict[tuple[frozenset[str], str], Pipeline] = {}
        for name, run in (routes or {}).items():
            key = parse_direction(name)
            match = [p for p in self.pipelines if p.run is not None and Path(p.run).resolve() == Path(run).resolve()]
            if not match:
                raise PipelineError(f"route {name!r} names {run}, which is not among the loaded runs "
                                    f"({', '.join(str(p.run) for p in self.pipelines)})")
            if key not in served(match[0]):
                raise PipelineError(f"route {name!r}: {run} cannot generate {key[1]} from {'+'.join(sorted(key[0]))}")
            self.routes[key] = match[0]

    @property
    def modalities(self) -> dict:
        out: dict = {}
        for p in self.pipelines:
            for m, mod in p.modalities.items():
                out.setdefault(m, mod)
        return out

    @property
    def config(self):
        return next((p.config for p in self.pipelines if p.config is not None), None)

    def route(self, given: Sequence[str], target: str) -> Pipeline:
        """The pipeline that serves ``given -> target`` (see the module docstring)."""
        key = (frozenset(given), target)
        if key in self.routes:
            return self.routes[key]
        able = [p for p in self.pipelines if key in served(p)]
        if not able:
            raise PipelineError(f"no loaded run generates {target} from {'+'.join(sorted(given))}; "
                                "load one that does or give fewer inputs")
        order = FAMILY_PREFERENCE.get(target, ())

        def rank(i_p):
            i, p = i_p
            score = recorded_score(p, key[0], target)
            family = getattr(p.config, "family", "")
            return (-(score if not math.isnan(score) else -1.0),
                    order.index(family) if family in order else len(order), i)

        return min(enumerate(able), key=rank)[1]

    def generate(self, to: str, n: int = 1, seed: int | None = None, **given: Any) -> list:
        present = [m for m, v in given.items() if v is not None]
        if not present:
            raise PipelineError("give at least one input, e.g. text=... or image=...")
        return self.route(present, to).generate(to, n=n, seed=seed, **given)

    def generate_image(self, n: int = 1, seed: int | None = None, **given) -> list:
        return self.generate("image", n=n, seed=seed, **given)

    def generate_text(self, n: int = 1, seed: int | None = None, **given) -> list:
        return self.generate("text", n=n, seed=seed, **given)

    def generate_audio(self, n: int = 1, seed: int | None = None, **given) -> list:
        return self.generate("audio", n=n, seed=seed, **given)

    def generate_video(self, n: int = 1, seed: int | None = None, **given) -> list:
        return self.generate("video", n=n, seed=seed, **given)

    def save(self, raw: Any, modality: str, path: str | Path) -> Path:
        return self.modalities[modality].write(raw, path)

    def cycle(self, text=None, image=None, rounds: int = 5, seed: int = 0):
        from synesthesia.cycle import run_cycle

        return run_cycle(self, text=text, image=image, rounds=rounds, seed=seed)
