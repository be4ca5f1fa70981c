"""Run folders: what a trained model is on disk, and how to rebuild it. This module is the only
code that knows the layout::

    RUN/config.yaml              the resolved RunConfig (family, model, modalities, data, train)
    RUN/model.safetensors        the model's weights
    RUN/assets/                  files modalities need (the text tokenizer)
    RUN/metrics.json             training and evaluation figures
    RUN/expander.safetensors     a caption expander, with expander.json (optional)
    RUN/priors/NAME.safetensors  fitted latent densities, with NAME.json (optional); priors/flow
                                 is the learned flow prior ('synesthesia train-prior')
    RUN/logs/                    TensorBoard and CSV logs
    RUN/samples/                 sample grids per epoch
    RUN/checkpoints/             resumable training state (safetensors, never pickles)
    RUN/gallery.html, gallery/   a page of every direction the run serves

Loading needs nothing but the folder and never unpickles anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from synesthesia.errors import SynesthesiaError
from synesthesia.io import atomic_path, write_text_atomic
from synesthesia.limits import set_limits
from synesthesia.modalities import build_modality
from synesthesia.modalities.base import Modality
from synesthesia.models.registry import build_model as build_family_model
from synesthesia.models.transformer.expander import CaptionExpander, ExpanderConfig
from synesthesia.runs.config import RunConfig
from synesthesia.sampling.densities import LatentDensity, density_from_state
from synesthesia.sampling.flow import FlowPrior

CONFIG, WEIGHTS, METRICS, ASSETS = "config.yaml", "model.safetensors", "metrics.json", "assets"
EXPANDER, EXPANDER_META = "expander.safetensors", "expander.json"
PRIORS, FLOW = "priors", "flow"
MAX_METRICS_BYTES = 16 << 20


class RunError(SynesthesiaError):
    """A run folder is missing, incomplete or damaged; the message says what to do."""


# -- modalities --------------------------------------------------------------------------------
def build_modalities(configs: Mapping[str, Mapping]) -> dict[str, Modality]:
    return {name: build_modality(name, **dict(cfg)) for name, cfg in configs.items()}


def save_modalities(modalities: Mapping[str, Modality], run: Path) -> dict[str, dict]:
    """Write modality assets into ``run/assets`` and return their resolved configs."""
    assets = Path(run) / ASSETS
    assets.mkdir(parents=True, exist_ok=True)
    for m in modalities.values():
        m.save_assets(assets)
    return {name: m.config() for name, m in modalities.items()}


def load_modalities(config: RunConfig, run: Path) -> dict[str, Modality]:
    modalities = build_modalities({n: c.to_dict() for n, c in config.modalities.items()})
    for name, m in modalities.items():
        try:
            m.load_assets(Path(run) / ASSETS)
        except SynesthesiaError:
            raise
        except Exception as err:
            raise RunError(f"{Path(run) / ASSETS} holds a file the {name} modality cannot read "
                           f"({type(err).__name__}: {str(err)[:100]}); the run folder is damaged: restore it "
                           "or train again") from None
    return modalities


# -- weights -----------------------------------------------------------------------------------
def save_weights(model: torch.nn.Module, path: Path) -> Path:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # tied parameters would be stored twice; clone so safetensors accepts them
    seen: dict[int, str] = {}
    for k, v in list(state.items()):
        ptr = v.untyped_storage().data_ptr()
        if ptr in seen:
            state[k] = v.clone()
        seen[ptr] = k
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    return path


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors, or a :class:`RunError` saying it is not one (a pickle, a
    truncated or corrupt file)."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise RunError(f"{path} is not a readable safetensors file ({str(err)[:120]}); synesthesia "
                       "never loads pickles: train the run again or restore the file") from None


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Load ``path`` into ``model`` (see :func:`load_state`)."""
    load_state(model, read_weights(path), path)


def load_state(model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path | str) -> None:
    """Load ``state`` (read from ``path``) into ``model``: every tensor must have one of the
    model's names, and its shape and dtype (weights relabelled from float to int are refused, not
    cast)."""
    own = model.state_dict()
    wrong = [f"{k} is {state[k].dtype}, expected {own[k].dtype}" for k in own
             if k in state and state[k].dtype != own[k].dtype]
    if wrong:
        raise RunError(f"weights in {path} have the wrong types ({'; '.join(wrong[:3])}); the file was "
                       "altered or belongs to another model")
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise RunError(f"weights in {path} do not fit the model built from config.yaml: "
                       f"{str(err)[:300]}") from None
    if missing or unexpected:
        raise RunError(f"weights in {path} do not fit the model built from config.yaml "
                       f"(missing: {missing[:5]}, unexpected: {unexpected[:5]})")


# -- the run folder ------------------------------------------------------------------------------
def read_run(run: str | Path) -> tuple[RunConfig, Path]:
    run = Path(run)
    if not (run / CONFIG).is_file():
        raise RunError(f"{run} is not a run folder (no {CONFIG}); train one with "
                       "'synesthesia train CONFIG.yaml --out RUN' or 'synesthesia quickstart'")
    if not (run / WEIGHTS).is_file():
        raise RunError(f"{run} has no {WEIGHTS}: training did not finish; resume it with "
                       f"'synesthesia train {run / CONFIG} --out {run} --resume'")
    return RunConfig.from_yaml(run / CONFIG), run


def read_finished_run(path: str | Path) -> tuple[str, dict, dict, dict] | None:
    """(family, model section, modality sections, weights) of a finished run folder, or None
    when ``path`` holds none: what a model built on another run reads (see
    :func:`synesthesia.models.registry.build_model`)."""
    path = Path(path)
    if not ((path / CONFIG).is_file() and (path / WEIGHTS).is_file()):
        return None
    config = RunConfig.from_yaml(path / CONFIG)
    return (config.family, config.model.to_dict(), {n: c.to_dict() for n, c in config.modalities.items()},
            read_weights(path / WEIGHTS))


def build_model(config: RunConfig, modalities: Mapping[str, Modality]) -> torch.nn.Module:
    """The model a run config describes (another run it is built on is read from its folder)."""
    return build_family_model(config.family, modalities, config.model, read_run=read_finished_run)


def load_model(run: str | Path) -> tuple[torch.nn.Module, dict[str, Modality], RunConfig]:
    """Rebuild the model, its modalities and its config from a run folder."""
    config, run = read_run(run)
    if config.limits.changed():                      # a run trained with raised limits reads such input
        set_limits(**config.limits.changed())
    modalities = load_modalities(config, run)
    model = build_model(config, modalities)
    load_weights(model, run / WEIGHTS)
    model.eval()
    return model, modalities, config


# -- metrics -----------------------------------------------------------------------------------
def read_metrics(run: str | Path) -> dict:
    path = Path(run) / METRICS
    if not path.is_file():
        return {}
    if path.stat().st_size > MAX_METRICS_BYTES:
        raise RunError(f"{path} is larger than {MAX_METRICS_BYTES >> 20} MB; it is not a metrics file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RunError(f"{path} is not valid JSON; delete it (it only holds figures)") from None
    return data if isinstance(data, dict) else {}


def write_metrics(run: str | Path, metrics: dict) -> Path:
    """Merge ``metrics`` into ``RUN/metrics.json`` (atomically)."""
    old = read_metrics(run)
    old.update(metrics)
    return write_text_atomic(Path(run) / METRICS, json.dumps(old, indent=2, default=float))


# -- parts stored beside the model -----------------------------------------------------------------
def save_part(run: str | Path, name: str, module: torch.nn.Module, meta: dict) -> Path:
    """Weights and a JSON description of a part a run keeps beside its model (``name``:
    ``expander`` or ``priors/<density>``), weights first so the JSON marks a complete part."""
    weights, info = _part_paths(run, name)
    save_weights(module, weights)
    write_text_atomic(info, json.dumps(meta, indent=1, default=float))
    return weights


def read_part(run: str | Path, name: str) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """(description, weights) of a part saved by :func:`save_part`, or None when absent."""
    weights, info = _part_paths(run, name)
    if not weights.is_file():
        return None
    if not info.is_file():
        raise RunError(f"{run} has {weights.name} but no {info.name}: the part was not saved whole; "
                       "train it again")
    try:
        meta = json.loads(info.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RunError(f"{info} is not valid JSON; train the part again") from None
    return meta, read_weights(weights)


def expander_checkpoint(run: str | Path) -> Path:
    """Where the caption expander's training keeps its resumable state."""
    return Path(run) / "checkpoints" / "expander.ckpt"


def save_expander(run: str | Path, model: CaptionExpander, info: dict) -> Path:
    return save_part(run, "expander", model, {"config": model.config.to_dict(), **info})


def load_expander(run: str | Path, modalities: Mapping[str, Modality]) -> CaptionExpander | None:
    """The run's caption expander, or None when it has none (or no text)."""
    part = read_part(run, "expander")
    if part is None or "text" not in modalities:
        return None
    meta, state = part
    model = CaptionExpander(modalities["text"], ExpanderConfig.from_dict(meta.get("config") or {}, "expander"))
    load_state(model, state, Path(run) / EXPANDER)
    return model.eval()


def save_prior(run: str | Path, density: LatentDensity) -> Path:
    """Keep a fitted latent density in ``RUN/priors/<name>``."""
    return save_part(run, f"{PRIORS}/{density.name}", density, density.meta())


def load_prior(run: str | Path, name: str) -> LatentDensity | None:
    """The density ``name`` the run has saved, or None."""
    part = read_part(run, f"{PRIORS}/{name}")
    return None if part is None else density_from_state(*part)


def save_flow_prior(run: str | Path, flow: FlowPrior, info: Mapping | None = None) -> Path:
    """Keep a learned flow prior in ``RUN/priors/flow`` with what ``info`` adds (how it was fitted)."""
    return save_part(run, f"{PRIORS}/{FLOW}", flow, {**flow.meta(), **dict(info or {})})


def load_flow_prior(run: str | Path) -> FlowPrior | None:
    """The run's flow prior (:mod:`synesthesia.sampling.flow`), or None when it has none."""
    part = read_part(run, f"{PRIORS}/{FLOW}")
    if part is None:
        return None
    meta, state = part
    return FlowPrior.from_state(meta, state, str(Path(run) / PRIORS / f"{FLOW}.safetensors"))


def has_flow_prior(run: str | Path) -> bool:
    """Whether the run folder holds a learned flow prior (made by ``synesthesia train-prior``)."""
    return all(path.is_file() for path in _part_paths(run, f"{PRIORS}/{FLOW}"))


def flow_prior_info(run: str | Path) -> dict | None:
    """How the run's flow prior was fitted (its ``summary``: steps, CPU seconds, ...; the rows it
    was encoded from), without reading its weights; None when the run has none."""
    if not has_flow_prior(run):
        return None
    info = _part_paths(run, f"{PRIORS}/{FLOW}")[1]
    try:
        return json.loads(info.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RunError(f"{info} is not valid JSON; train the prior again") from None


def _part_paths(run: str | Path, name: str) -> tuple[Path, Path]:
    run = Path(run)
    if name == "expander":
        return run / EXPANDER, run / EXPANDER_META
    return run / f"{name}.safetensors", run / f"{name}.json"
