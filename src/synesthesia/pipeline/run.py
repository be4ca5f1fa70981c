"""One loaded run as a pipeline holds it: the model, its modalities, config and folder, its
caption expander and fitted priors; and the small pieces a pipeline shares (errors, options,
directions)."""

from __future__ import annotations

import dataclasses
import inspect
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from synesthesia.data.user_source import open_data
from synesthesia.errors import SynesthesiaError, shown
from synesthesia.modalities.base import Modality
from synesthesia.runs import RunConfig, has_flow_prior, load_flow_prior, load_prior, read_metrics, save_prior
from synesthesia.sampling.densities import DENSITIES, FITTED, LatentDensity, StandardNormal
from synesthesia.sampling.flow import FlowPrior
from synesthesia.sampling.flow_vae import DEFAULT_GUIDANCE, DEFAULT_STEPS

Direction = tuple[tuple[str, ...], str]


class PipelineError(SynesthesiaError):
    """A generation request the pipeline cannot serve; the message says what it can do."""

@dataclass
class Options:
    """Generation options; None leaves the model's default. Latent options apply to
    latent-variable models (joint VAEs), the others to the models whose ``generate`` takes them."""

    sampler: str | None = None          # MCMC on p(z | given): hmc, mala or langevin (latent models)
    steps: int | None = None            # MCMC steps (latent models; default 30)
    chains: int | None = None           # MCMC chains per input (latent models; default 1)
    proposals: int | None = None        # draws from q(z | given) resampled by importance weight (latent models)
    prior: str | None = None            # p(z): standard, aggregate, gmm (MCMC, joint samples) or flow (latent models)
    # (flow: z drawn given the inputs by the run's learned prior, made by 'synesthesia train-prior')
    flow_steps: int | None = None       # ODE steps of the flow prior (prior=flow; default 50)
    flow_anchor: str | None = None      # joint samples of prior=flow in two stages: this modality first, then z given it
    method: str | None = None           # caption decoding: greedy, beam or sample (captioners)
    beam_size: int | None = None        # beams of beam search (captioners)
    length_penalty: float | None = None  # beam search scores divided by length ** length_penalty (captioners)
    top_k: int | None = None            # keep the k most likely tokens when sampling (transformers)
    top_p: float | None = None          # nucleus sampling probability (transformers)
    cfg_scale: float | None = None      # classifier-free guidance (autoregressive generators; prior=flow: default 2)
    use_cache: bool | None = None       # key/value cache when decoding (transformers; default on)
    ema: bool | None = None             # sample with the averaged generator (GANs; default on)

    def given(self) -> dict[str, Any]:
        """The options set (not None), by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}

# options the pipeline handles itself for latent-variable models (through synesthesia.sampling);
# a model that is none keeps those its own generate takes (cfg_scale of autoregressive generators)
LATENT_OPTIONS = ("sampler", "steps", "chains", "proposals", "prior", "flow_steps", "flow_anchor", "cfg_scale")
FLOW = "flow"                           # the prior name of the learned flow prior
PRIORS = (*DENSITIES, FLOW)             # every prior= a latent model takes
FLOW_DEFAULTS = {"flow_steps": DEFAULT_STEPS, "cfg_scale": DEFAULT_GUIDANCE, "flow_anchor": None}

class Run:
    """A trained model with its modalities, config, folder, caption expander and fitted priors."""

    def __init__(self, model: torch.nn.Module, modalities: Mapping[str, Modality], config: RunConfig | None = None,
                 path: Path | None = None, expander: torch.nn.Module | None = None) -> None:
        self.model = model.eval()
        self.modalities = dict(modalities)
        self.config, self.path, self.expander = config, path, expander
        self.priors: dict[str, LatentDensity] = {}
        self.flow_prior: FlowPrior | None = None
        self.metrics = read_metrics(path) if path is not None else {}

    @property
    def family(self) -> str:
        return getattr(self.config, "family", "") if self.config is not None else ""

    def directions(self) -> list[Direction]:
        if hasattr(self.model, "directions"):
            return [(tuple(g), t) for g, t in self.model.directions()]
        return all_directions(list(self.modalities))

    def recorded_score(self, given: Sequence[str], target: str) -> float:
        """Strict coherence of this direction in the run's recorded evaluation, or nan."""
        recorded = self.metrics.get("evaluation", {}).get("coherence", {})
        for name, score in recorded.items():
            g, t = parse_direction(name)
            if g == frozenset(given) and t == target and isinstance(score, (int, float)):
                return float(score)
        return float("nan")

    def flow(self) -> FlowPrior:
        """The run's learned flow prior (``RUN/priors/flow``), loaded on first use."""
        if self.flow_prior is None:
            flow = load_flow_prior(self.path) if self.path is not None else None
            if flow is None:
                where = self.path or "RUN"
                raise PipelineError(f"prior='flow' needs the run's learned prior, and {where} has none; train "
                                    f"it with 'synesthesia train-prior {where}'")
            self.flow_prior = flow.to(device_of(self.model))
        return self.flow_prior

    def has_flow(self) -> bool:
        """Whether a learned flow prior is loaded or saved in the run folder."""
        return self.flow_prior is not None or (self.path is not None and has_flow_prior(self.path))

    def prior(self, name: str) -> LatentDensity:
        """The density ``name``: N(0, I), or one fitted to the run's training latents (loaded from
        the run folder, or fitted on first use and saved there)."""
        if name == "standard":
            return StandardNormal(self.model.latent_dim).to(device_of(self.model))
        if name == FLOW:
            raise PipelineError("the flow prior is no density fitted on first use: train it with 'synesthesia "
                                "train-prior RUN', then generate with prior='flow' (run.flow() loads it)")
        if name not in FITTED:
            raise PipelineError(f"unknown prior {name!r}; choose from standard, {', '.join(FITTED)}, {FLOW}")
        if name not in self.priors:
            self.priors[name] = load_or_fit_prior(self, name)
        return self.priors[name]

def parse_direction(name: str) -> tuple[frozenset[str], str]:
    """``"image+audio->text"`` -> ({"image", "audio"}, "text")."""
    if "->" not in name:
        raise PipelineError(f"route {shown(name)} must read 'given->target', e.g. 'text->image' or 'image+audio->text'")
    given, target = name.split("->", 1)
    return frozenset(g.strip() for g in given.split("+") if g.strip()), target.strip()

def all_directions(modalities: Sequence[str]) -> list[Direction]:

    out = []
    for target in modalities:
        others = [m for m in modalities if m != target]
        for r in range(1, len(others) + 1):
            out += [(given, target) for given in itertools.combinations(others, r)]
    return out

def device_of(model: torch.nn.Module) -> torch.device:
    tensor = next(iter(model.parameters()), None)
    if tensor is None:
        tensor = next(iter(model.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")

def model_options(model: torch.nn.Module) -> list[str]:
    """The options a model's ``generate`` takes beyond the common arguments."""
    common = ("self", "given", "targets", "generator", "temperature", "batch_size")
    params = inspect.signature(model.generate).parameters
    return [k for k, p in params.items() if k not in common and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

def check_model_options(run: Run, options: Mapping[str, Any]) -> None:
    taken = model_options(run.model)
    bad = [k for k in options if k not in taken]
    if bad:
        raise PipelineError(f"{', '.join(bad)} {'does' if len(bad) == 1 else 'do'} not apply to the "
                            f"{run.family or 'loaded'} run{f' {run.path}' if run.path else ''}; it takes "
                            f"{', '.join(taken) or 'no options'}")

PRIOR_ROWS = 2000      # training rows whose posteriors make a fitted prior

def load_or_fit_prior(run: Run, name: str) -> LatentDensity:
    """A fitted prior saved in the run folder, else fitted to the posteriors of ``PRIOR_ROWS``
    training rows (the run's own data) and saved there."""

    if run.path is not None:
        saved = load_prior(run.path, name)
        if saved is not None:
            return saved.to(device_of(run.model))
    if run.config is None:
        raise PipelineError(f"prior={name!r} is fitted to the run's training data, and this pipeline has no "
                            "run config to find it; fit one with synesthesia.sampling.densities and "
                            "model.row_posteriors(data)")
    source = open_data(run.config.data)
    size = source.size("train")
    ds = source.dataset("train", min(PRIOR_ROWS, size) if size else PRIOR_ROWS, run.modalities)
    batch = ds[list(range(len(ds)))]
    density = DENSITIES[name].fit(*run.model.row_posteriors(batch.data, batch.masks))
    if run.path is not None:
        save_prior(run.path, density)
    return density.to(device_of(run.model))
