"""Run folders: what a trained model is on disk, and how to rebuild it.

::

    RUN/config.yaml          the resolved RunConfig (family, model, modalities, data, train)
    RUN/model.safetensors    the model's weights
    RUN/assets/              files modalities need (the text tokenizer)
    RUN/metrics.json         training figures
    RUN/logs/                TensorBoard and CSV logs
    RUN/samples/             sample grids per epoch
    RUN/checkpoints/         resumable training state (safetensors, never pickles)

Loading needs nothing but the folder and never unpickles anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import torch
from safetensors.torch import load_file, save_file

from synesthesia.config import RunConfig
from synesthesia.io import atomic_path, write_text_atomic
from synesthesia.limits import set_limits
from synesthesia.modalities import build_modality
from synesthesia.modalities.base import Modality
from synesthesia.errors import SynesthesiaError


class RunError(SynesthesiaError):
    """A run folder is missing or incomplete; the message says what to do."""


def build_modalities(configs: Mapping[str, Mapping]) -> dict[str, Modality]:
    return {name: build_modality(name, **dict(cfg)) for name, cfg in configs.items()}


def save_modalities(modalities: Mapping[str, Modality], run: Path) -> dict[str, dict]:
    """Write modality assets into ``run/assets`` and return their resolved configs."""
    assets = run / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    for m in modalities.values():
        m.save_assets(assets)
    return {name: m.config() for name, m in modalities.items()}


def load_modalities(config: RunConfig, run: Path) -> dict[str, Modality]:
    modalities = build_modalities(config.modalities)
    for m in modalities.values():
        m.load_assets(run / "assets")
    return modalities


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


def load_weights(model: torch.nn.Module, path: Path) -> None:
    state = load_file(str(path))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RunError(f"weights in {path} do not fit the model built from config.yaml "
                       f"(missing: {missing[:5]}, unexpected: {unexpected[:5]})")


def read_run(run: str | Path) -> tuple[RunConfig, Path]:
    run = Path(run)
    if not (run / "config.yaml").is_file():
        raise RunError(f"{run} is not a run folder (no config.yaml); train one with "
                       "'synesthesia train CONFIG.yaml --out RUN' or 'synesthesia quickstart'")
    if not (run / "model.safetensors").is_file():
        raise RunError(f"{run} has no model.safetensors: training did not finish; resume it with "
                       f"'synesthesia train {run / 'config.yaml'} --out {run} --resume'")
    return RunConfig.from_yaml(run / "config.yaml"), run


def load_model(run: str | Path) -> tuple[torch.nn.Module, dict[str, Modality], RunConfig]:
    """Rebuild the model, its modalities and its config from a run folder."""
    from synesthesia.models.registry import build_model

    config, run = read_run(run)
    if config.limits.changed():                      # a run trained with raised limits reads such input
        set_limits(**config.limits.changed())
    modalities = load_modalities(config, run)
    model = build_model(config.family, modalities, config.model)
    load_weights(model, run / "model.safetensors")
    model.eval()
    return model, modalities, config


def write_metrics(run: Path, metrics: dict) -> Path:
    path = run / "metrics.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    old.update(metrics)
    return write_text_atomic(path, json.dumps(old, indent=2, default=float))
