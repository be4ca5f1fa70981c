"""The one module of the server that calls the pipeline.

An :class:`Engine` holds the loaded runs and answers what the server needs: which directions
are served and by which run, which sampling options each run takes, and a batched generation
call (:meth:`Engine.run_generate`: several requests' inputs stacked into one
``pipe.generate`` call, the outputs split back). Everything that depends on the pipeline's
signature is in :meth:`Engine._generate` and :meth:`Engine._sample`.

The cycle is a loop of the two generation calls here rather than ``pipe.cycle``: the library's
cycle also scores agreement with the world's image oracle, which is trained on first use, far
too slow to happen inside a request.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synesthesia.cycle import world_of
from synesthesia.errors import SynesthesiaError
from synesthesia.modalities import InputAdjusted
from synesthesia.pipeline import Pipeline, load
from synesthesia.pipeline.run import LATENT_OPTIONS, model_options
from synesthesia.sampling.latent import LatentModel

# generation options a request may set, when the routed model's generate takes them
SERVED_OPTIONS = ("sampler", "steps", "chains", "proposals", "prior", "flow_steps", "method", "beam_size",
                  "top_k", "top_p", "length_penalty", "cfg_scale")

class EngineError(SynesthesiaError):
    """A request for something the loaded runs cannot do; the message says what they can."""

@dataclass(frozen=True)
class Direction:
    """``given -> target``, served by run number ``run``."""

    given: tuple[str, ...]
    target: str
    run: int

    @property
    def name(self) -> str:
        return "+".join(self.given) + "->" + self.target

@dataclass(frozen=True)
class GenerateKey:
    """What requests must share to be generated in one call."""

    run: int
    given: tuple[str, ...]
    target: str
    n: int
    temperature: float
    options: tuple[tuple[str, Any], ...]

@dataclass
class Generated:
    """One request's outputs (raw values of the target), the seed they were drawn with, and
    notes on how its inputs were adjusted to fit the model."""

    outputs: list
    seed: int
    notes: list[str]
    batch_size: int = 1

class Engine:
    """The loaded runs behind the server."""

    def __init__(self, runs: Sequence[str | Path], routes: Mapping[str, str | Path] | None = None,
                 device: str = "cpu") -> None:
        if not runs:
            raise EngineError("give at least one run folder to serve")
        pipe = load(*runs, routes=routes or None, device=device)
        self.pipe = pipe
        self.pipelines = [Pipeline([run]) for run in pipe.runs]          # one per run, by number
        self.names = _unique_names([Path(p.run).name if p.run else f"run{i}" for i, p in enumerate(self.pipelines)])
        self.roots = [Path(p.run).resolve() for p in self.pipelines if p.run is not None]
        self._directions = self._collect_directions()

    # -- what is served --------------------------------------------------------------------
    @property
    def modalities(self) -> dict:
        out: dict = {}
        for p in self.pipelines:
            for m, mod in p.modalities.items():
                out.setdefault(m, mod)
        return out

    def family(self, run: int) -> str:
        return str(getattr(self.pipelines[run].config, "family", "unknown"))

    def _collect_directions(self) -> list[Direction]:
        out = [Direction(given, target, self.pipe.runs.index(self.pipe.route(list(given), target)))
               for given, target in self.pipe.directions()]
        return sorted(out, key=lambda d: (len(d.given), d.target, d.given))

    def directions(self) -> list[Direction]:
        return list(self._directions)

    def direction(self, given: Sequence[str], target: str) -> Direction:
        """The served direction ``given -> target``, or an error listing what is served."""
        known = self.modalities
        for m in [*given, target]:
            if m not in known:
                raise EngineError(f"no loaded run has a {m!r} modality; they have {', '.join(known)}")
        if not given:
            raise EngineError(f"give at least one input ({', '.join(m for m in known if m != target)}) "
                              f"to generate {target}")
        if target in given:
            raise EngineError(f"{target!r} is both given and asked for; drop it from the inputs or choose another 'to'")
        key = tuple(sorted(given))
        for d in self._directions:
            if d.given == key and d.target == target:
                return d
        served = ", ".join(d.name for d in self._directions if d.target == target) or "none"
        raise EngineError(f"no loaded run generates {target} from {'+'.join(key)}; "
                          f"directions to {target}: {served}")

    def options_of(self, run: int) -> list[str]:
        """The generation options run number ``run`` takes (``expand`` when it has an expander)."""
        pipe = self.pipelines[run]
        taken = model_options(pipe.model)
        latent = isinstance(pipe.model, LatentModel)
        names = [o for o in SERVED_OPTIONS if o in taken or (latent and o in LATENT_OPTIONS)]
        if pipe.expander is not None:
            names.append("expand")
        return names

    def check_options(self, run: int, options: Mapping[str, Any]) -> dict:
        """The options that are set, or an error naming those the run does not take."""
        chosen = {k: v for k, v in options.items() if v is not None}
        taken = self.options_of(run)
        bad = [k for k in chosen if k not in taken]
        if bad:
            raise EngineError(f"{', '.join(bad)}: not an option of run {self.names[run]!r} "
                              f"({self.family(run)}); it takes {', '.join(taken) or 'no options'}")
        return chosen

    def world(self, run: int | None = None):
        """The procedural world the run (default: the first that has one) was trained on, or None."""
        runs = [run] if run is not None else range(len(self.pipelines))
        for i in runs:
            world = world_of(self.pipelines[i])
            if world is not None:
                return world
        return None

    def recorded_coherence(self, run: int) -> dict[str, float]:
        """Direction -> coherence from the run's metrics.json "evaluation" section."""
        evaluation = self.pipe.runs[run].metrics.get("evaluation", {})
        coherence = evaluation.get("coherence", {}) if isinstance(evaluation, dict) else {}
        return {k: float(v) for k, v in coherence.items() if isinstance(v, (int, float))}

    # -- generation (called from the scheduler's worker thread) ---------------------------------
    def run_generate(self, key: GenerateKey, items: list[dict[str, Any]],
                     seed: int | None) -> list[Generated | Exception]:
        """Generate for several requests at once: each item's inputs are checked alone (a bad
        one fails alone), the rest are stacked into one pipeline call."""
        results: list[Generated | Exception | None] = [None] * len(items)
        good, notes = [], {}
        for i, given in enumerate(items):
            try:
                notes[i] = self._check_inputs(key.run, given)
                good.append(i)
            except Exception as err:
                results[i] = err
        if good:
            seed = _fresh_seed() if seed is None else int(seed)
            try:
                groups = self._generate(key, [items[i] for i in good], seed)
                for i, outputs in zip(good, groups):
                    results[i] = Generated(outputs, seed, notes[i], len(good))
            except Exception as err:
                for i in good:
                    results[i] = err
        return results

    def _check_inputs(self, run: int, given: Mapping[str, Any]) -> list[str]:
        """Encode one request's inputs alone: errors surface here, and the notes on how they
        were fitted to the model are this request's own."""
        modalities = self.pipelines[run].modalities
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InputAdjusted)
            for m, raw in given.items():
                modalities[m].encode([raw])
        return [str(w.message) for w in caught if issubclass(w.category, InputAdjusted)]

    def _generate(self, key: GenerateKey, inputs: list[dict[str, Any]], seed: int) -> list[list]:
        """The pipeline call: B requests' inputs as lists -> B lists of ``n`` outputs."""
        pipe = self.pipelines[key.run]
        lists = {m: [given[m] for given in inputs] for m in key.given}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputAdjusted)
            return pipe.generate(key.target, n=key.n, seed=seed, temperature=key.temperature,
                                 **lists, **dict(key.options))

    def sample(self, run: int, n: int, seed: int | None, temperature: float) -> Generated:
        """Unconditional joint samples of every modality of run number ``run``."""
        seed = _fresh_seed() if seed is None else int(seed)
        return Generated(self._sample(run, n, seed, temperature), seed, [])

    def _sample(self, run: int, n: int, seed: int, temperature: float) -> dict[str, list]:
        return self.pipelines[run].sample(n=n, seed=seed, temperature=temperature)

    def default_sample_run(self) -> int:
        """The run joint samples come from when a request names none: the first joint VAE."""
        families = [self.family(i) for i in range(len(self.pipelines))]
        return families.index("joint_vae") if "joint_vae" in families else 0

    def cycle(self, text: str | None, image: Any, rounds: int, seed: int) -> dict:
        """image -> text -> image ... from a caption or an image: ``{"images": [[...], ...],
        "captions": [...]}`` per round (round 0 is the start), with the seeds of ``pipe.cycle``
        (the first step of round r at seed + 10 + r, the second at seed + 20 + r)."""
        to_image = self.direction(["text"], "image")
        to_text = self.direction(["image"], "text")
        images, captions = [[image] if image is not None else []], [[text] if text is not None else []]
        for r in range(1, rounds + 1):
            if text is not None:
                image = self._one(to_image, {"text": text}, seed + 10 + r)
                text = self._one(to_text, {"image": image}, seed + 20 + r)
            else:
                text = self._one(to_text, {"image": image}, seed + 10 + r)
                image = self._one(to_image, {"text": text}, seed + 20 + r)
            images.append([image])
            captions.append([text])
        return {"images": images, "captions": captions, "seed": seed}

    def _one(self, d: Direction, given: dict, seed: int):
        key = GenerateKey(d.run, d.given, d.target, 1, 1.0, ())
        result = self.run_generate(key, [given], seed)[0]
        if isinstance(result, Exception):
            raise result
        return result.outputs[0]

def _fresh_seed() -> int:

    return secrets.randbelow(2**31 - 1)

def _unique_names(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        k, candidate = 2, name
        while candidate in out:
            candidate, k = f"{name}-{k}", k + 1
        out.append(candidate)
    return out
