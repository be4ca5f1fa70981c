"""What a run is made of: the ``train`` section, and the whole run config (family,
model, modalities, data, train) as ``config.yaml`` holds it.

Every section is typed (see :mod:`synesthesia.config`): unknown keys and bad values fail when the
config is read, before anything is written or rendered. ``synesthesia config show PRESET|RUN``
prints a config with the meaning of every field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synesthesia.config import ConfigError, Section, apply_overrides, load_yaml, nearest
from synesthesia.data.config import DataConfig
from synesthesia.errors import shown
from synesthesia.limits import Limits
from synesthesia.modalities import MODALITY_CLASSES, modality_class
from synesthesia.models.registry import FAMILIES, model_config_class

PRESETS = Path(__file__).resolve().parents[1] / "configs"     # the YAML presets shipped with the package
SCHEDULES = ("cosine", "constant")             # learning-rate schedules (see training.callbacks)
PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "bf16-true", "16-mixed", "64-true")
SEED_LIMIT = 2 ** 32


@dataclass
class TrainConfig(Section):
    batch_size: int = 64               # samples per step
    lr: float = 2e-3                   # peak learning rate (AdamW; GANs: Adam of the generator)
    schedule: str = "cosine"           # learning-rate schedule: cosine (warm-up, then decay over the budget) or constant
    warmup_steps: int = 100            # steps of linear warm-up of the cosine schedule
    resume_lr_factor: float | None = None  # --resume: restart the cosine warm up to this x lr (null: keep decaying)
    weight_decay: float = 0.0          # AdamW weight decay
    max_steps: int = -1                # stop after this many optimiser steps (-1: no step limit)
    max_epochs: int = 20               # stop after this many passes over the training data
    max_minutes: float | None = None   # stop after this much wall-clock time (null: none; results then depend on the machine)
    precision: str = "auto"            # auto (bf16-mixed where the processor has native bf16, else 32-true), 32-true, bf16-mixed, ...
    gradient_clip: float | None = 5.0  # clip the gradient norm to this (null: no clipping)
    max_loss: float | None = None      # stop when a training loss exceeds this: divergence (null: no limit)
    seed: int = 0                      # seed of weights, data order and sampling
    accelerator: str = "cpu"           # Lightning accelerator: cpu, gpu, auto
    devices: Any = 1                   # Lightning devices: a count or a list of ids
    num_nodes: int = 1                 # machines for multi-node training
    strategy: str = "auto"             # Lightning strategy: auto, ddp, fsdp, ...
    checkpoint_every: int = 500        # steps between checkpoints (the final step is always saved)
    log_every: int = 25                # steps between logged losses
    samples_every_epoch: bool = True   # write a sample grid to RUN/samples/ after each epoch
    threads: int | None = None         # CPU threads for PyTorch (null: its default)
    num_workers: int = 0               # DataLoader worker processes
    compile: bool = False              # run the model's forward through torch.compile (eager where it fails); measure first

    def __post_init__(self) -> None:
        positive = ("batch_size", "max_epochs", "num_nodes", "checkpoint_every", "log_every")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"train.{name} must be positive, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be positive, got {self.lr}")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError(f"train.max_steps must be positive (or -1 for no limit), got {self.max_steps}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ConfigError(f"train.max_minutes must be positive (or null for no time limit), got {self.max_minutes}")
        for name in ("warmup_steps", "weight_decay", "num_workers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if self.gradient_clip is not None and self.gradient_clip <= 0:
            raise ConfigError(f"train.gradient_clip must be positive (or null), got {self.gradient_clip}")
        if self.max_loss is not None and not math.isfinite(self.max_loss):
            raise ConfigError(f"train.max_loss must be a finite number (or null), got {self.max_loss}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"train.threads must be at least 1 (or null), got {self.threads}")
        if not 0 <= self.seed < SEED_LIMIT:
            raise ConfigError(f"train.seed must be in [0, 2**32), got {self.seed}")
        if self.resume_lr_factor is not None and not 0 < self.resume_lr_factor <= 1:
            raise ConfigError(f"train.resume_lr_factor must lie in (0, 1] (a fraction of train.lr), "
                              f"got {self.resume_lr_factor}; leave it unset to keep decaying")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"train.schedule {self.schedule!r} unknown; choose from {', '.join(SCHEDULES)}")
        if str(self.precision) not in PRECISIONS:
            raise ConfigError(f"train.precision {self.precision!r} unknown; choose from {', '.join(PRECISIONS)}")


@dataclass
class RunConfig(Section):
    family: str = "joint_vae"          # model family: joint_vae, gan or transformer
    model: Any = None                  # the family's options (its typed section; see docs/<family>.md)
    modalities: dict = field(default_factory=dict)  # per-modality options; those left null come from the data
    data: DataConfig = field(default_factory=DataConfig)  # where the training data comes from
    train: TrainConfig = field(default_factory=TrainConfig)  # how long and how to train
    limits: Limits = field(default_factory=Limits)  # the largest inputs decoded (pixels, seconds, frames, characters)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(f"unknown model family {self.family!r}{nearest(self.family, list(FAMILIES))}; "
                              f"choose from {', '.join(FAMILIES)}")
        raw = self.model.to_dict() if isinstance(self.model, Section) else (self.model or {})
        for name, value in (("model", raw), ("modalities", self.modalities or {})):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{name} must be a mapping of keys to values; got {shown(value)}")
        self.model = model_config_class(self.family, raw).from_dict(raw, "model")
        sections = {}
        for name, options in (self.modalities or {}).items():
            if name not in MODALITY_CLASSES:
                raise ConfigError(f"unknown modality {name!r} under modalities{nearest(name, list(MODALITY_CLASSES))}; "
                                  f"choose from {', '.join(MODALITY_CLASSES)}")
            sections[name] = modality_class(name).Config.from_dict(options, f"modalities.{name}")
        self.modalities = sections

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, where: str = "") -> RunConfig:
        return super().from_dict(data, where)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
        return cls.from_dict(apply_overrides(load_yaml(path), overrides))

    def set_modalities(self, resolved: Mapping[str, Mapping]) -> None:
        """Keep the modalities' resolved options (what ``Modality.config()`` returns)."""
        self.modalities = {n: modality_class(n).Config.from_dict(dict(o), f"modalities.{n}")
                           for n, o in resolved.items()}

    def modality_options(self, name: str) -> dict:
        """The options given for modality ``name`` (those left null are the data's to fill)."""
        section = self.modalities.get(name)
        return {} if section is None else {k: v for k, v in section.to_dict().items() if v is not None}


def find_config(name: str | Path) -> Path:
    """A config file: a YAML path, a run folder (its config.yaml), or a preset by name
    (``quickstart``, ``joint_vae/l5-32``: the files under ``configs/``)."""
    path = Path(name)
    if path.is_dir() and (path / "config.yaml").is_file():
        return path / "config.yaml"
    if path.is_file():
        return path
    preset = PRESETS / (str(name).removeprefix("configs/").removesuffix(".yaml") + ".yaml")
    if preset.is_file():
        return preset
    known = sorted(str(p.relative_to(PRESETS).with_suffix("")) for p in PRESETS.rglob("*.yaml"))
    raise ConfigError(f"no config file, run folder or preset named {str(name)!r}{nearest(str(name), known)} "
                      f"(presets: {', '.join(known)})")
