"""Reading a prepared folder (written by :mod:`synesthesia.data.prepare`) without loading it:
every column is a memory-mapped ``.npy`` per shard, opened in the process that reads it (so a
DataLoader worker maps the files itself instead of receiving a copy)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from synesthesia.data.columns import ColumnDataset, ShardedArray
from synesthesia.data.errors import DataError
from synesthesia.modalities import build_modality
from synesthesia.modalities.base import Modality

PREPARED_FILE = "prepared.json"
PREPARED_FORMAT = "synesthesia-prepared"
PREPARED_VERSION = 1
# settings that decide what the stored arrays mean: a run must use the prepared values
CODEC_KEYS = ("size", "frames", "sample_rate", "seconds", "n_fft", "n_mels", "max_len")


class LazyNpy:
    """A ``.npy`` file memory-mapped on first use; pickles as its path (never its data)."""

    def __init__(self, path: Path, n: int) -> None:
        self.path, self.n, self._array = Path(path), n, None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index):
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r")
        return self._array[index]

    def __getstate__(self) -> dict:
        return {"path": self.path, "n": self.n, "_array": None}


def read_manifest(folder: Path) -> dict:
    path = folder / PREPARED_FILE
    if not path.is_file():
        raise DataError(f"{folder} is not a prepared folder (no {PREPARED_FILE}); make one with "
                        f"'synesthesia data prepare SOURCE --out {folder}'")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != PREPARED_FORMAT or manifest.get("version") != PREPARED_VERSION:
        raise DataError(f"{path}: format {manifest.get('format')} version {manifest.get('version')}, this "
                        f"version reads {PREPARED_FORMAT} {PREPARED_VERSION}; prepare the data again")
    return manifest


class PreparedSource:
    """A prepared folder as a training source: its modalities come with it (sizes, rates, the
    tokenizer), and its splits are read through memory maps."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        self._captions: dict[str, list[list[str]]] = {}

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.manifest["modalities"])

    def size(self, split: str) -> int:
        return self.manifest["splits"].get(split, {}).get("n", 0)

    def resolve_modalities(self, names: Sequence[str], configs: Mapping[str, dict]) -> dict[str, Modality]:
        """The prepared modalities; ``configs`` may change their networks, not how they were stored."""
        built = {}
        for name in names:
            stored = self.manifest["modalities"][name]
            asked = dict(configs.get(name) or {})
            clash = [k for k in CODEC_KEYS if k in asked and k in stored and asked[k] != stored[k]]
            if clash:
                raise DataError(f"{self.path} was prepared with " + ", ".join(
                    f"modalities.{name}.{k}={stored[k]}" for k in clash) + "; the config asks for "
                    + ", ".join(f"{k}={asked[k]}" for k in clash) + "; remove these settings or prepare again")
            modality = build_modality(name, **{**stored, **asked})
            modality.load_assets(self.path / "assets")
            built[name] = modality
        return built

    def _shards(self, split: str, n: int | None) -> list[tuple[Path, int]]:
        info = self.manifest["splits"].get(split)
        if not info or not info["n"]:
            raise DataError(f"{self.path} has no {split!r} samples; it has "
                            f"{ {k: v['n'] for k, v in self.manifest['splits'].items()} }")
        out, left = [], info["n"] if n is None else min(n, info["n"])
        for shard in info["shards"]:
            if left <= 0:
                break
            take = min(shard["n"], left)
            if take:
                out.append((self.path / shard["path"], take))
            left -= take
        return out

    def captions_of(self, split: str) -> list[list[str]]:
        if split not in self._captions:
            rows = []
            for folder, _ in self._shards(split, None):
                rows += [json.loads(line)["captions"] for line in (folder / "samples.jsonl").read_text().splitlines()]
            self._captions[split] = rows
        return self._captions[split]

    def captions(self, split: str, n: int | None = None) -> list[str]:
        rows = self.captions_of(split)
        return [c for caps in (rows if n is None else rows[:n]) for c in caps]

    def dataset(self, split: str, n: int | None, modalities: Mapping[str, Modality],
                missing_p: float = 0.0) -> ColumnDataset:
        shards = self._shards(split, n)
        names = [m for m in modalities if m in self.manifest["modalities"]]
        arrays = {m: ShardedArray([LazyNpy(f / f"{m}.npy", k) for f, k in shards]) for m in names}
        present = {m: ShardedArray([LazyNpy(f / f"{m}_present.npy", k) for f, k in shards]) for m in names}
        count = ShardedArray([LazyNpy(f / "text_count.npy", k) for f, k in shards])
        return ColumnDataset(arrays, present, count, missing_p, "random" if split == "train" else "first",
                             _Captions([f for f, _ in shards]))


class _Captions:
    """The raw captions of a split's samples, read from its shards' ``samples.jsonl`` on first
    use (picklable, for DataLoader workers)."""

    def __init__(self, folders: list[Path]) -> None:
        self.folders, self._rows = folders, None

    def __call__(self, idx) -> list[list[str]]:
        if self._rows is None:
            self._rows = [json.loads(line)["captions"] for f in self.folders
                          for line in (f / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
        return [self._rows[i] for i in idx]

    def __getstate__(self) -> dict:
        return {"folders": self.folders, "_rows": None}
