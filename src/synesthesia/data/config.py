"""The ``data`` section of a run: where training data comes from."""

from __future__ import annotations

from dataclasses import dataclass, field

from synesthesia.config import ConfigError, Section
from synesthesia.world import WorldConfig


@dataclass
class DataConfig(Section):
    world: WorldConfig = field(default_factory=WorldConfig)  # the procedural world trained on when no files are given
    cache: str | None = None           # a world cache folder made by 'synesthesia world make'
    manifest: str | None = None        # a JSONL manifest of users' own files (one sample per line)
    modalities: list[str] | None = None  # modalities to train on (default: every one the data has)
    n_train: int = 20000               # training samples (the world renders this many; files: at most this many)
    n_val: int = 512                   # validation samples
    missing_p: float = 0.0             # probability of hiding each modality of a training sample (trains every subset)

    def __post_init__(self) -> None:
        if self.cache and self.manifest:
            raise ConfigError("data.cache and data.manifest are alternatives; give one of them")
        if not 0.0 <= self.missing_p < 1.0:
            raise ConfigError(f"data.missing_p must be in [0, 1), got {self.missing_p}")
        if self.n_train <= 0:
            raise ConfigError(f"data.n_train must be positive, got {self.n_train}")
        if self.n_val < 0:
            raise ConfigError(f"data.n_val must be >= 0, got {self.n_val}")
