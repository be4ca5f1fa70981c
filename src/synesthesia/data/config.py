"""The ``data`` section of a run: where training data comes from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from synesthesia.config import ConfigError, Section
from synesthesia.world import WorldConfig


@dataclass
class DataConfig(Section):
    world: WorldConfig = field(default_factory=WorldConfig)  # the procedural world trained on when no path is given
    path: str | None = None            # users' data: any layout (docs/data.md), a prepared folder or a world cache; stored absolute
    format: str | None = None          # force a layout instead of detecting it (see synesthesia data inspect)
    caption_column: str | None = None  # HF folders: the metadata column holding captions
    allow_outside: bool = False        # accept manifest/metadata paths leaving the dataset folder
    max_rejected: float = 0.01         # fail when more than this fraction of samples is unreadable
    max_metadata_mb: float = 512.0     # refuse metadata files (CSV, JSON, manifests) larger than this
    cache: str | None = None           # alias of path for a world cache made by 'synesthesia world make'
    manifest: str | None = None        # alias of path for a JSONL manifest of users' files
    modalities: list[str] | None = None  # modalities to train on (default: every one the data has)
    n_train: int = 20000               # training samples (the world renders this many; files: at most this many)
    n_val: int = 512                   # validation samples
    missing_p: float = 0.0             # probability of hiding each modality of a training sample (trains every subset)

    def __post_init__(self) -> None:
        given = [k for k in ("path", "cache", "manifest") if getattr(self, k)]
        if len(given) > 1:
            raise ConfigError(f"data.{given[0]} and data.{given[1]} are alternatives; give data.path only")
        if not 0.0 <= self.max_rejected <= 1.0:
            raise ConfigError(f"data.max_rejected is a fraction in [0, 1], got {self.max_rejected}")
        if self.max_metadata_mb <= 0:
            raise ConfigError(f"data.max_metadata_mb must be positive, got {self.max_metadata_mb}")
        if not 0.0 <= self.missing_p < 1.0:
            raise ConfigError(f"data.missing_p must be in [0, 1), got {self.missing_p}")
        if self.n_train <= 0:
            raise ConfigError(f"data.n_train must be positive, got {self.n_train}")
        if self.n_val < 0:
            raise ConfigError(f"data.n_val must be >= 0, got {self.n_val}")

    @property
    def users_data(self) -> str | None:
        """The users' dataset named (``path``, else ``manifest``); None for the world or a cache."""
        return self.path or self.manifest

    def absolute(self) -> DataConfig:
        """The same settings with the dataset's path made absolute (a run then works from any
        working directory)."""
        for key in ("path", "cache", "manifest"):
            value = getattr(self, key)
            if value:
                setattr(self, key, str(Path(value).expanduser().resolve()))
        return self
