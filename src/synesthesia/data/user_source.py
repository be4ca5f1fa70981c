"""Users' own datasets as a training source: any layout read by :mod:`synesthesia.data.readers`
and decoded into memory (small data), or a prepared folder read through memory maps (any size);
:func:`open_data` picks the source ``data.path`` names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from synesthesia.data.columns import ColumnDataset, in_memory
from synesthesia.data.decode import Decoder
from synesthesia.data.errors import DataError
from synesthesia.data.plan import Plan, make_plan
from synesthesia.data.prepared import PreparedSource
from synesthesia.data.readers import ReaderOptions, detect_format
from synesthesia.data.rejected import REJECTED_FILE, check_limit, write_rejected
from synesthesia.data.sources import WorldSource
from synesthesia.modalities import build_modality
from synesthesia.modalities.base import Modality
from synesthesia.modalities.text import TextModality

MAX_CAPTIONS = 32              # captions kept per sample (MSR-VTT has 20)

def reader_options(data) -> ReaderOptions:
    """The reading options a ``DataConfig`` asks for."""
    return ReaderOptions(caption_column=getattr(data, "caption_column", None),
                         allow_outside=bool(getattr(data, "allow_outside", False)),
                         max_metadata_bytes=int(getattr(data, "max_metadata_mb", 512) * (1 << 20)))

def max_captions(plan: Plan) -> int:
    most = max((sum(1 for c in s.captions if isinstance(c, str) and c.strip()) for s in plan.samples), default=1)
    return max(1, min(MAX_CAPTIONS, most))

def build_modalities(plan: Plan, names: Sequence[str], configs: Mapping[str, dict]) -> dict[str, Modality]:
    """The modalities ``names`` with ``configs``; the text tokenizer (byte-level BPE unless
    ``modalities.text.tokenizer`` says ``word``) is trained on every caption of the training split."""
    built: dict[str, Modality] = {}
    for name in names:
        cfg = dict(configs.get(name) or {})
        if name == "text":
            cfg.setdefault("tokenizer", "bpe")
            captions = plan.train_captions()
            if not captions:
                raise DataError(f"{plan.path}: the training split has no caption to build the text "
                                "vocabulary from; leave text out with data.modalities")

            built[name] = TextModality.from_captions(captions, **cfg)
        else:
            built[name] = build_modality(name, **cfg)
    return built

class ReaderSource:
    """A dataset layout decoded into memory. Bad samples are skipped and written to
    ``rejected.jsonl`` in ``run_dir``; more than ``max_rejected`` of them is an error."""

    def __init__(self, plan: Plan, max_rejected: float = 0.01, run_dir: str | Path | None = None) -> None:
        self.plan, self.max_rejected = plan, max_rejected
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.rejected: dict[str, list[dict]] = {}
        self.summaries: dict[str, dict] = {}

    @classmethod
    def from_path(cls, path, format: str | None = None, options: ReaderOptions | None = None,
                  max_rejected: float = 0.01, run_dir=None) -> ReaderSource:
        return cls(make_plan(path, format, options), max_rejected, run_dir)

    @property
    def modalities(self) -> tuple[str, ...]:
        return self.plan.modalities

    def size(self, split: str) -> int:
        return len(self.plan.split(split))

    def captions(self, split: str, n: int | None = None) -> list[str]:
        samples = self.plan.split(split)
        return [c for s in (samples if n is None else samples[:n]) for c in s.captions
                if isinstance(c, str) and c.strip()]

    def resolve_modalities(self, names: Sequence[str], configs: Mapping[str, dict]) -> dict[str, Modality]:
        return build_modalities(self.plan, names, configs)

    def dataset(self, split: str, n: int, modalities: Mapping[str, Modality],
                missing_p: float = 0.0) -> ColumnDataset:
        samples = self.plan.split(split)[:n]
        if not samples:
            raise DataError(f"{self.plan.path} has no {split!r} samples (it has {self.plan.splits})")
        enc = Decoder(modalities, max_captions(self.plan)).run(samples)
        self.rejected[split] = enc.rejected + enc.dropped
        self.summaries[split] = {"samples": len(samples), "kept": len(enc), "rejected": len(enc.rejected),
                                 "captions_dropped": len(enc.dropped)}
        written = None
        if self.run_dir is not None and any(self.rejected.values()):
            written = write_rejected(self.run_dir / REJECTED_FILE, [e for v in self.rejected.values() for e in v])
        check_limit(enc.rejected, len(samples), self.max_rejected, f"{self.plan.path} ({split})", written)
        if not len(enc):
            raise DataError(f"{self.plan.path}: no usable {split!r} sample")
        return in_memory(enc.arrays, enc.present, enc.text_count, enc.captions, missing_p,
                         "random" if split == "train" else "first")

def data_path(data) -> str | None:
    """The dataset a ``DataConfig`` names: ``path``, else its aliases ``manifest`` and ``cache``."""
    return getattr(data, "path", None) or getattr(data, "manifest", None) or getattr(data, "cache", None)

def open_data(data, run_dir: str | Path | None = None):
    """The training source for a ``DataConfig``: the procedural world, a world cache, a prepared
    folder, or any readable layout (decoded into memory)."""
    where = data_path(data)
    if not where:
        return WorldSource.from_config(data.world, None)
    format = getattr(data, "format", None) or detect_format(where)
    if format == "world":
        return WorldSource.from_config(data.world, str(Path(where).parent if Path(where).is_file() else where))
    if format == "prepared":

        return PreparedSource(Path(where).parent if Path(where).is_file() else where)
    return ReaderSource.from_path(where, format, reader_options(data), getattr(data, "max_rejected", 0.01), run_dir)
