"""What users hold: ``pipe = synesthesia.load(run, ...)`` and ``pipe.generate(to=..., text=...)``.

One :class:`Pipeline` serves one trained run or several: each (given modalities -> target)
request goes to the run named for it in ``routes``, else to the run whose recorded evaluation
scores it highest, else by family (captioners for text, GANs for pixels), else the first that
serves it. Inputs are raw values — ``text`` a string, ``image`` a PIL image, path or uint8 array,
``audio`` a path or ``(waveform, sample_rate)``, ``video`` a path or a list of frames — or lists of
them for a batch; outputs are raw values of the target. Options (sampling, decoding, priors) are
explicit keyword arguments; an option the routed model does not take is an error naming what it
takes. The pipeline knows no model family: latent-variable models are sampled through
:mod:`synesthesia.sampling`, everything else through the model's own ``generate``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from synesthesia.cycle import run_cycle
from synesthesia.modalities.base import Modality
from synesthesia.pipeline.inputs import check_count, encode
from synesthesia.pipeline.run import (
    FLOW,
    FLOW_DEFAULTS,
    LATENT_OPTIONS,
    Direction,
    Options,
    PipelineError,
    Run,
    check_model_options,
    device_of,
    model_options,
    parse_direction,
)
from synesthesia.runs import RunConfig, load_expander, load_model
from synesthesia.sampling.densities import LatentDensity, StandardNormal
from synesthesia.sampling.flow import FlowPriorError
from synesthesia.sampling.flow_vae import flow_generate
from synesthesia.sampling.latent import LatentModel, conditional_latents

# options that only the learned flow prior (prior="flow") takes from a latent model
FLOW_ONLY = frozenset(FLOW_DEFAULTS)
JOINT_ANCHOR = "text"        # joint samples of a run with a flow prior draw the caption first (measured best)

# target modality -> families from most to least preferred when nothing was measured
FAMILY_PREFERENCE: dict[str, tuple[str, ...]] = {
    "text": ("transformer", "joint_vae", "gan"),
    "image": ("gan", "transformer", "joint_vae"),
    "video": ("gan", "transformer", "joint_vae"),
    "audio": ("joint_vae", "transformer", "gan"),
}

class Pipeline:
    """One interface over one or several trained runs (see the module docstring)."""

    def __init__(self, runs: Sequence[Run], routes: Mapping[str, str | Path] | None = None) -> None:
        if not runs:
            raise PipelineError("give at least one run")
        self.runs = list(runs)
        self.routes: dict[tuple[frozenset[str], str], Run] = {}
        self.last_sampling: dict | None = None
        for name, where in (routes or {}).items():
            key = parse_direction(name)
            match = [r for r in self.runs if r.path is not None and Path(r.path).resolve() == Path(where).resolve()]
            if not match:
                raise PipelineError(f"route {name!r} names {where}, which is not among the loaded runs "
                                    f"({', '.join(str(r.path) for r in self.runs)})")
            if (tuple(sorted(key[0])), key[1]) not in {(tuple(sorted(g)), t) for g, t in match[0].directions()}:
                raise PipelineError(f"route {name!r}: {where} cannot generate {key[1]} from {'+'.join(sorted(key[0]))}")
            self.routes[key] = match[0]

    @classmethod
    def from_model(cls, model: torch.nn.Module, modalities: Mapping[str, Modality],
                   config: RunConfig | None = None) -> Pipeline:
        """A pipeline over a model in memory (not saved as a run)."""
        return cls([Run(model, modalities, config)])

    # -- what is served --------------------------------------------------------------------
    @property
    def modalities(self) -> dict[str, Modality]:
        out: dict[str, Modality] = {}
        for r in self.runs:
            for m, mod in r.modalities.items():
                out.setdefault(m, mod)
        return out

    def _single(self) -> Run:
        if len(self.runs) > 1:
            raise PipelineError("this pipeline holds several runs; use pipe.runs[i] for one of them")
        return self.runs[0]

    @property
    def model(self) -> torch.nn.Module:
        return self._single().model

    @property
    def expander(self) -> torch.nn.Module | None:
        return self._single().expander

    @property
    def config(self) -> RunConfig | None:
        return next((r.config for r in self.runs if r.config is not None), None)

    @property
    def run(self) -> Path | None:
        return self.runs[0].path if len(self.runs) == 1 else None

    @property
    def device(self) -> torch.device:
        return device_of(self.runs[0].model)

    def to(self, device) -> Pipeline:
        for r in self.runs:
            r.model.to(device)
            if r.expander is not None:
                r.expander.to(device)
        return self

    def directions(self) -> list[Direction]:
        """Every (given modalities, target) some run serves."""
        return sorted({(tuple(sorted(g)), t) for r in self.runs for g, t in r.directions()},
                      key=lambda d: (d[1], len(d[0]), d[0]))

    def route(self, given: Sequence[str], target: str) -> Run:
        """The run that serves ``given -> target`` (see the module docstring)."""
        key = (frozenset(given), target)
        if key in self.routes:
            return self.routes[key]
        able = [r for r in self.runs if (tuple(sorted(given)), target) in
                {(tuple(sorted(g)), t) for g, t in r.directions()}]
        if not able:
            if target not in self.modalities:
                raise PipelineError(f"no loaded run has a {target!r} modality to generate; they have "
                                    f"{', '.join(self.modalities)}")
            served = ", ".join(f"{'+'.join(g)}->{t}" for g, t in self.directions() if t == target)
            raise PipelineError(f"no loaded run generates {target} from {'+'.join(sorted(given)) or 'nothing'}"
                                + (f"; served: {served}" if served else ""))
        order = FAMILY_PREFERENCE.get(target, ())

        def rank(item):
            i, r = item
            score = r.recorded_score(given, target)
            return (-(score if not math.isnan(score) else -1.0),
                    order.index(r.family) if r.family in order else len(order), i)

        return min(enumerate(able), key=rank)[1]

    # -- generation from raw inputs ------------------------------------------------------------
    @torch.no_grad()
    def generate(self, to: str, *, text: Any = None, image: Any = None, audio: Any = None, video: Any = None,
                 n: int = 1, seed: int | None = None, temperature: float = 1.0,
                 sampler: str | None = None, steps: int | None = None, chains: int | None = None,
                 proposals: int | None = None, prior: str | None = None, flow_steps: int | None = None,
                 method: str | None = None,
                 beam_size: int | None = None, length_penalty: float | None = None, top_k: int | None = None,
                 top_p: float | None = None, cfg_scale: float | None = None, use_cache: bool | None = None,
                 ema: bool | None = None, expand: bool | None = None) -> list:
        """``n`` outputs of modality ``to`` per input. With single inputs the result is a list of
        ``n`` outputs; with lists of B inputs, a list of B lists of ``n``. ``seed`` makes it
        repeatable; ``temperature`` scales the sampling noise; ``expand=False`` gives a caption to
        the model as it is even when the run has a caption expander. The other options are those
        of :class:`Options`."""
        options = Options(sampler=sampler, steps=steps, chains=chains, proposals=proposals, prior=prior,
                          flow_steps=flow_steps, method=method, beam_size=beam_size, length_penalty=length_penalty, top_k=top_k, top_p=top_p,
                           cfg_scale=cfg_scale, use_cache=use_cache, ema=ema)
        given = {m: v for m, v in {"text": text, "image": image, "audio": audio, "video": video}.items()
                 if v is not None}
        check_count(n)
        if not given:
            raise PipelineError("give at least one input (" + ", ".join(f"{m}=..." for m in self.modalities)
                                + "), or call pipe.sample(n) for unconditional samples")
        if to in given:
            raise PipelineError(f"{to!r} is both given and asked for; drop {to}= or choose another target")
        if to not in self.modalities:
            raise PipelineError(f"no loaded run has a {to!r} modality to generate; they have "
                                f"{', '.join(self.modalities)}")
        for m in given:
            if m not in self.modalities:
                raise PipelineError(f"this model has no {m!r} modality to condition on; it has "
                                    f"{', '.join(self.modalities)}")
        run = self.route(list(given), to)
        tensors, b, batched = encode(run, given)
        tensors = {m: x.repeat_interleave(n, dim=0) for m, x in tensors.items()}
        out = self.generate_tensors(tensors, [to], self.generator(seed), temperature, options, expand, run)[to]
        raws = run.modalities[to].decode(out.float().cpu() if out.is_floating_point() else out.cpu())
        groups = [raws[i * n:(i + 1) * n] for i in range(b)]
        return groups if batched else groups[0]

    def generate_image(self, **kwargs) -> list:
        return self.generate("image", **kwargs)

    def generate_text(self, **kwargs) -> list:
        return self.generate("text", **kwargs)

    def generate_audio(self, **kwargs) -> list:
        return self.generate("audio", **kwargs)

    def generate_video(self, **kwargs) -> list:
        return self.generate("video", **kwargs)

    @torch.no_grad()
    def sample(self, n: int = 1, seed: int | None = None, to: Sequence[str] | None = None,
               temperature: float = 1.0, prior: str | None = None, flow_steps: int | None = None,
               flow_anchor: str | None = None, cfg_scale: float | None = None) -> dict[str, list]:
        """Unconditional joint samples: every modality (or ``to``) of one run decoded from the same
        draws. ``prior`` (latent models): the p(z) they are drawn from: ``flow``, the run's learned
        prior integrated in ``flow_steps`` steps, with ``flow_anchor`` drawn in two stages as unCLIP
        draws a caption before its image (that modality is decoded from an unconditional draw, then
        z is drawn given it with guidance ``cfg_scale``, default 2); ``standard``, N(0, I). The
        default is the flow prior anchored on the caption where the run has a flow prior (joint
        coherence 0.001 -> 0.879 at level 3, 0.016 -> 0.705 at level 5), else N(0, I)."""
        check_count(n)
        targets = list(to or self.modalities)
        able = [r for r in self.runs if all(t in r.modalities for t in targets)]
        if not able:
            raise PipelineError(f"no loaded run has all of {targets}; ask for fewer modalities with to=")
        run = able[0]
        if prior is None and run.has_flow():
            prior = FLOW
            if flow_anchor is None and JOINT_ANCHOR in run.modalities and targets != [JOINT_ANCHOR]:
                flow_anchor = JOINT_ANCHOR
        out = self.generate_tensors({}, targets, self.generator(seed), temperature,
                                    Options(prior=prior, flow_steps=flow_steps, flow_anchor=flow_anchor,
                                            cfg_scale=cfg_scale),
                                    None, run, batch_size=n)
        return {m: run.modalities[m].decode(out[m].float().cpu() if out[m].is_floating_point() else out[m].cpu())
                for m in targets}

    # -- generation from tensors (evaluation uses this) ------------------------------------------
    @torch.no_grad()
    def generate_tensors(self, given: Mapping[str, torch.Tensor], targets: Sequence[str],
                         generator: torch.Generator | None = None, temperature: float = 1.0,
                         options: Options | None = None, expand: bool | None = None, run: Run | None = None,
                         batch_size: int | None = None) -> dict[str, torch.Tensor]:
        """Targets in model form from encoded inputs (or ``batch_size`` unconditional samples),
        through the routed run (one route per target unless ``run`` is given)."""
        options = options or Options()
        if run is None and given:
            runs = {t: self.route(list(given), t) for t in targets}
            if len({id(r) for r in runs.values()}) > 1:
                out = {}
                for t, r in runs.items():
                    out.update(self.generate_tensors(given, [t], generator, temperature, options, expand, r))
                return out
            run = next(iter(runs.values()))
        run = run or self.runs[0]
        given = self._expanded(run, given, generator, expand)
        extra = options.given()
        is_latent, own = isinstance(run.model, LatentModel), model_options(run.model)
        latent = {k: v for k, v in extra.items() if k in LATENT_OPTIONS and (is_latent or k not in own)}
        self.last_sampling = None
        if latent:
            if not isinstance(run.model, LatentModel):
                raise PipelineError(f"{', '.join(latent)} appl{'y' if len(latent) > 1 else 'ies'} to latent-variable "
                                    f"models (joint VAEs); the {run.family or 'loaded'} run takes "
                                    f"{', '.join(model_options(run.model)) or 'no options'}")
            if latent.get("prior") == FLOW or FLOW_ONLY & set(latent):
                return self._flow_generate(run, given, targets, generator, temperature, latent, batch_size)
            return self._latent_generate(run, given, targets, generator, temperature, latent, batch_size)
        check_model_options(run, extra)
        return run.model.generate(given, list(targets), generator=generator, temperature=temperature,
                                  batch_size=batch_size, **extra)

    def _latent_generate(self, run: Run, given, targets, generator, temperature, latent: dict,
                         batch_size: int | None) -> dict[str, torch.Tensor]:
        prior = run.prior(latent.pop("prior")) if "prior" in latent else None
        if not given:
            if latent:
                raise PipelineError(f"{', '.join(latent)} need inputs; for joint samples give only prior=")
            z = (prior or StandardNormal(run.model.latent_dim)).sample(batch_size, generator).to(device_of(run.model))
            return run.model.decode(temperature * z if prior is None else z, list(targets), generator)
        z, info = conditional_latents(run.model, given, generator, temperature, prior=prior, **latent)
        self.last_sampling = info
        return run.model.decode(z, list(targets), generator)

    def _flow_generate(self, run: Run, given, targets, generator, temperature, latent: dict,
                       batch_size: int | None) -> dict[str, torch.Tensor]:
        """z drawn by the run's learned flow prior given the inputs' experts, then decoded."""
        if latent.get("prior") != FLOW:
            raise PipelineError(f"{', '.join(sorted(FLOW_ONLY & set(latent)))} set the learned flow prior; "
                                "give prior='flow' with them (for a joint VAE)")
        other = [k for k in latent if k not in (*FLOW_ONLY, "prior")]
        if other:
            raise PipelineError(f"prior='flow' draws z from the learned prior given the inputs; {', '.join(other)} "
                                "(MCMC options) do not combine with it; leave them out, or use prior='gmm'")
        options = {**FLOW_DEFAULTS, **latent}
        try:
            return flow_generate(run.model, run.flow(), given, list(targets), generator, temperature,
                                 batch_size=batch_size, guidance=float(options["cfg_scale"]),
                                 steps=int(options["flow_steps"]), anchor=options["flow_anchor"])
        except FlowPriorError as err:
            raise PipelineError(str(err)) from None

    def _expanded(self, run: Run, given: Mapping[str, torch.Tensor], generator, expand: bool | None):
        if expand and run.expander is None:
            raise PipelineError("this run has no caption expander; train one with "
                                f"'synesthesia expander {run.path or 'RUN'}', or leave expand out")
        if "text" in given and run.expander is not None and expand is not False:
            return {**given, "text": run.expander.expand(given["text"], generator)}
        return dict(given)

    # -- priors, cycle, files --------------------------------------------------------------------
    def fit_prior(self, name: str = "aggregate") -> LatentDensity:
        """The run's fitted prior ``name`` (``aggregate`` or ``gmm``), fitted now if it is not saved."""
        run = self._single()
        if not isinstance(run.model, LatentModel):
            raise PipelineError(f"only latent-variable models (joint VAEs) have priors; this is a {run.family} run")
        return run.prior(name)

    def cycle(self, text=None, image=None, rounds: int = 5, seed: int = 0):
        """image -> text -> image -> ... from ``text`` or ``image`` (one value or a list); see
        :func:`synesthesia.cycle.run_cycle`."""

        return run_cycle(self, text=text, image=image, rounds=rounds, seed=seed)

    def generator(self, seed: int | None) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**31 - 1, ()).item()))
        return g

    def save(self, raw: Any, modality: str, path: str | Path) -> Path:
        """Write one output with the modality's file writer (format from the extension)."""
        if modality not in self.modalities:
            raise PipelineError(f"no loaded run has a {modality!r} modality; they have {', '.join(self.modalities)}")
        return self.modalities[modality].write(raw, path)

def load(*runs: str | Path, routes: Mapping[str, str | Path] | None = None,
         device: str | torch.device = "cpu") -> Pipeline:
    """Load trained run folders into one :class:`Pipeline`."""

    if not runs:
        raise PipelineError("give at least one run folder")
    loaded = []
    for path in runs:
        model, modalities, config = load_model(path)
        loaded.append(Run(model, modalities, config, Path(path), load_expander(path, modalities)))
    return Pipeline(loaded, routes).to(device)
