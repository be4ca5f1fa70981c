"""Run configuration: typed dataclasses with a YAML round trip and ``--set key=value`` overrides.

A run's ``config.yaml`` holds everything needed to rebuild it: the model family and its config,
the per-modality settings, the data source, and the training options.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from synesthesia.io import write_text_atomic
from synesthesia.errors import SynesthesiaError
from synesthesia.limits import LimitError, Limits


class ConfigError(SynesthesiaError):
    """A configuration file or override is wrong; the message says which key and why."""


def from_dict(cls, data: Mapping[str, Any] | None, where: str = ""):
    """Build dataclass ``cls`` from a mapping, naming any unknown key and the known ones."""
    data = dict(data or {})
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(repr(k) for k in unknown)} in "
                          f"{where or cls.__name__}; known keys: {', '.join(known)}")
    kwargs = {}
    for name, value in data.items():
        f = known[name]
        sub = f.metadata.get("dataclass")
        kwargs[name] = (from_dict(sub, value, f"{where}.{name}".strip(".")) if sub
                        else _coerce(str(f.type), value))
    try:
        return cls(**kwargs)
    except LimitError as err:
        raise ConfigError(str(err)) from None
    except (TypeError, ValueError) as err:
        raise ConfigError(f"bad value in {where or cls.__name__}: {err}") from err


class ModelConfig:
    """YAML round trip for a family's model-config dataclass (the ``model`` section of a run)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None):
        return from_dict(cls, data, "model")

    def to_yaml(self, path: str | Path) -> Path:
        return write_text_atomic(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_yaml(cls, path: str | Path):
        return cls.from_dict(yaml.safe_load(Path(path).read_text()) or {})


def _coerce(annotation: str, value: Any) -> Any:
    """YAML 1.1 reads ``3e-4`` as a string; turn numeric strings into the field's number type."""
    if isinstance(value, str):
        for name, kind in (("float", float), ("int", int)):
            if name in annotation:
                try:
                    return kind(value)
                except ValueError:
                    pass
    return value


def to_dict(obj) -> dict:
    return dataclasses.asdict(obj)


@dataclass
class DataConfig:
    """Where training data comes from: a procedural world (default), or ``path``: a dataset in
    any layout synesthesia reads (COCO, Karpathy, Flickr30k, HF folders, AudioCaps, Clotho,
    MSR-VTT, WebDataset, a JSONL manifest), a prepared folder or a world cache."""

    world: dict = field(default_factory=lambda: {"level": 3, "image_size": 32})
    path: str | None = None               # the dataset (stored absolute in a run's config.yaml)
    format: str | None = None             # force a layout instead of detecting it (see data inspect)
    caption_column: str | None = None     # HF folders: the metadata column holding captions
    allow_outside: bool = False           # accept manifest/metadata paths leaving the dataset folder
    max_rejected: float = 0.01            # fail when more than this fraction of samples is bad
    max_metadata_mb: float = 512.0        # refuse metadata files (CSV, JSON, manifests) larger than this
    cache: str | None = None              # alias of path for a world cache
    manifest: str | None = None           # alias of path for a JSONL manifest
    modalities: list[str] | None = None   # the modalities to train on (default: all the data has)
    n_train: int = 20000                  # training samples read (at most)
    n_val: int = 512                      # validation samples read (at most; 0: no validation)
    missing_p: float = 0.0                # probability of hiding each modality of a sample in training

    def __post_init__(self) -> None:
        given = [k for k in ("path", "cache", "manifest") if getattr(self, k)]
        if len(given) > 1:
            raise ConfigError(f"data.{given[0]} and data.{given[1]} are alternatives; give data.path only")
        if not 0.0 <= self.missing_p < 1.0:
            raise ConfigError(f"data.missing_p must be in [0, 1), got {self.missing_p}")
        if self.n_train <= 0:
            raise ConfigError(f"data.n_train must be positive, got {self.n_train}")
        if not 0.0 <= self.max_rejected <= 1.0:
            raise ConfigError(f"data.max_rejected is a fraction in [0, 1], got {self.max_rejected}")
        if self.max_metadata_mb <= 0:
            raise ConfigError(f"data.max_metadata_mb must be positive, got {self.max_metadata_mb}")

    def absolute(self) -> "DataConfig":
        """The same settings with the dataset's path made absolute (a run then works from any
        working directory)."""
        for key in ("path", "cache", "manifest"):
            value = getattr(self, key)
            if value:
                setattr(self, key, str(Path(value).expanduser().resolve()))
        return self


# learning-rate schedules (see synesthesia.training.callbacks): cosine decays over the budget
SCHEDULES = ("cosine", "constant")


@dataclass
class TrainConfig:
    """Training options, passed to the Lightning Trainer."""

    batch_size: int = 64
    lr: float = 2e-3
    schedule: str = "cosine"
    warmup_steps: int = 100
    resume_lr_factor: float | None = None    # --resume: warm restart of the cosine to this × lr
    weight_decay: float = 0.0
    max_steps: int = -1
    max_epochs: int = 20
    max_minutes: float | None = None
    precision: str = "32-true"
    gradient_clip: float | None = 5.0
    seed: int = 0
    accelerator: str = "cpu"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"
    checkpoint_every: int = 500
    log_every: int = 25
    samples_every_epoch: bool = True
    threads: int | None = None
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.batch_size <= 0:
            raise ConfigError(f"train.batch_size must be positive, got {self.batch_size}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be positive, got {self.lr}")
        if self.resume_lr_factor is not None and not 0 < self.resume_lr_factor <= 1:
            raise ConfigError(f"train.resume_lr_factor must lie in (0, 1] (a fraction of train.lr), "
                              f"got {self.resume_lr_factor}; leave it unset to keep decaying")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"train.schedule {self.schedule!r} unknown; choose from {', '.join(SCHEDULES)}")
        allowed = {"32-true", "32", "bf16-mixed", "bf16-true", "16-mixed", "64-true"}
        if str(self.precision) not in allowed:
            raise ConfigError(f"train.precision {self.precision!r} unknown; choose from {sorted(allowed)}")


@dataclass
class RunConfig:
    family: str = "joint_vae"
    model: dict = field(default_factory=dict)
    modalities: dict = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig, metadata={"dataclass": DataConfig})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"dataclass": TrainConfig})
    limits: Limits = field(default_factory=Limits, metadata={"dataclass": Limits})

    # -- YAML --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunConfig":
        return from_dict(cls, data, "config")

    def to_yaml(self, path: str | Path) -> Path:
        return write_text_atomic(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: Sequence[str] = ()) -> "RunConfig":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist; presets live in configs/")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {err}") from err
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a mapping at the top level")
        return cls.from_dict(apply_overrides(data, overrides))


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to a nested dict copy."""
    out = copy.deepcopy(dict(data))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set takes key=value (e.g. train.lr=3e-4), got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        parts = key.strip().split(".")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {p!r} is not a section")
        node[parts[-1]] = value
    return out
