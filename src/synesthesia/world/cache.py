"""On-disk cache of rendered samples: memory-mappable ``.npy`` shards plus a JSON manifest.

Layout::

    OUT/manifest.json                 config, fingerprint, splits, array dtypes and shapes
    OUT/<split>/<shard>/codes.npy     int8  (n, 6)        attribute codes (ATTRIBUTE_NAMES order)
    OUT/<split>/<shard>/image.npy     uint8 (n, S, S, 3)
    OUT/<split>/<shard>/video.npy     uint8 (n, T, Sv, Sv, 3)
    OUT/<split>/<shard>/audio.npy     int16 or float16 (n, L)
    OUT/<split>/<shard>/text.npy      fixed-width utf-8 bytes (n,)

The cache is built in a temporary folder beside OUT and renamed into place only when complete,
so an interrupted build leaves no manifest and no OUT at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synesthesia.io import atomic_dir, write_text_atomic
from synesthesia.world.attributes import ATTRIBUTE_NAMES, SPLITS, WorldConfig, WorldError
from synesthesia.world.world import ShapesWorld, codes_matrix, matrix_codes

CACHE_FORMAT = 1
AUDIO_DTYPES = {"int16": np.int16, "float16": np.float16}


def split_sizes(n: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """Split ``n`` samples by ``fractions`` (which need not sum to 1; they are normalised)."""
    for name, f in fractions.items():
        if name not in SPLITS:
            raise WorldError(f"unknown split {name!r}; choose from {', '.join(SPLITS)}")
        if f < 0:
            raise WorldError(f"split fraction for {name!r} must be >= 0, got {f}")
    total = sum(fractions.values())
    if total <= 0:
        raise WorldError("split fractions must add up to more than 0")
    sizes = {k: int(n * f / total) for k, f in fractions.items()}
    first = next(iter(sizes))
    sizes[first] += n - sum(sizes.values())
    return {k: v for k, v in sizes.items() if v > 0}


def _to_stored(batch: dict, audio_dtype: str) -> dict[str, np.ndarray]:
    out = {"codes": codes_matrix(batch["codes"])}
    for key in ("image", "video"):
        if key in batch:
            out[key] = batch[key]
    if "audio" in batch:
        a = np.clip(batch["audio"], -1.0, 1.0)
        out["audio"] = (np.round(a * 32767).astype(np.int16) if audio_dtype == "int16"
                        else a.astype(np.float16))
    if "text" in batch:
        out["text"] = np.array([t.encode("utf-8") for t in batch["text"]])
    return out


def write_cache(world: ShapesWorld, out: str | Path, n: int,
                splits: Mapping[str, float] | None = None, shard_size: int = 10_000,
                audio_dtype: str = "int16", overwrite: bool = False,
                progress: Callable[[int, int], None] | None = None, chunk: int = 1024) -> Path:
    """Render ``n`` samples split by ``splits`` (default train 0.9 / val 0.05 / test 0.05, plus a
    holdout split of the same size as test when the world holds combinations out) into ``out``."""
    if n <= 0:
        raise WorldError(f"--n must be positive, got {n}")
    if audio_dtype not in AUDIO_DTYPES:
        raise WorldError(f"audio dtype {audio_dtype!r} unknown; choose from {', '.join(AUDIO_DTYPES)}")
    if splits is None:
        splits = {"train": 0.9, "val": 0.05, "test": 0.05}
        if world.config.holdout:
            splits["holdout"] = 0.05
    sizes = split_sizes(n, splits)
    done, t0 = 0, time.perf_counter()
    manifest: dict = {"format": CACHE_FORMAT, "world": world.config.to_dict(),
                      "fingerprint": world.config.fingerprint(), "attributes": list(ATTRIBUTE_NAMES),
                      "audio_dtype": audio_dtype, "splits": {}}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for split, count in sizes.items():
            shards = []
            for s, lo in enumerate(range(0, count, shard_size)):
                m = min(shard_size, count - lo)
                folder = tmp / split / f"{s:05d}"
                folder.mkdir(parents=True)
                arrays: dict[str, list] = {}
                for _, batch in world.render_chunks(split, m, chunk=chunk, start=lo):
                    for k, v in _to_stored(batch, audio_dtype).items():
                        arrays.setdefault(k, []).append(v)
                    done += len(batch["codes"]["shape"])
                    if progress:
                        progress(done, n)
                for k, parts in arrays.items():
                    if k == "text":
                        width = max(p.dtype.itemsize for p in parts)
                        parts = [p.astype(f"S{width}") for p in parts]
                    np.save(folder / f"{k}.npy", np.concatenate(parts))
                shards.append({"path": f"{split}/{s:05d}", "n": m, "start": lo})
            manifest["splits"][split] = {"n": count, "shards": shards}
        manifest["seconds"] = round(time.perf_counter() - t0, 2)
        manifest["bytes"] = sum(f.stat().st_size for f in tmp.rglob("*.npy"))
        write_text_atomic(tmp / "manifest.json", json.dumps(manifest, indent=2))
    return Path(out)


@dataclass
class _Shard:
    start: int
    n: int
    arrays: dict[str, np.ndarray]


class WorldCache:
    """Read access to a cache written by :func:`write_cache`; arrays are memory-mapped."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        mpath = self.path / "manifest.json"
        if not mpath.is_file():
            raise WorldError(
                f"{self.path} is not a world cache (no manifest.json); build one with "
                f"'synesthesia world make --out {self.path}'"
            )
        self.manifest = json.loads(mpath.read_text())
        if self.manifest.get("format") != CACHE_FORMAT:
            raise WorldError(f"{self.path} has cache format {self.manifest.get('format')}, "
                             f"this version reads {CACHE_FORMAT}; rebuild it")
        self.config = WorldConfig.from_dict(self.manifest["world"])
        self.fingerprint = self.manifest["fingerprint"]
        self._shards: dict[str, list[_Shard]] = {}
        for split, info in self.manifest["splits"].items():
            self._shards[split] = [
                _Shard(s["start"], s["n"], {f.stem: np.load(f, mmap_mode="r")
                                            for f in sorted((self.path / s["path"]).glob("*.npy"))})
                for s in info["shards"]
            ]

    @property
    def splits(self) -> dict[str, int]:
        return {k: v["n"] for k, v in self.manifest["splits"].items()}

    def __len__(self) -> int:
        return sum(self.splits.values())

    def get(self, split: str, indices: Sequence[int],
            modalities: Sequence[str] | None = None) -> dict:
        """Same keys and types as :meth:`ShapesWorld.render` (audio back to float32)."""
        if split not in self._shards:
            raise WorldError(f"cache {self.path} has no split {split!r}; it has {', '.join(self._shards)}")
        idx = np.asarray(indices, dtype=np.int64)
        n = self.splits[split]
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"index out of range for split {split!r} of {n} samples")
        mods = self.config.modalities if modalities is None else tuple(modalities)
        keys = ["codes", *[m for m in mods]]
        parts: dict[str, list] = {k: [] for k in keys}
        order = np.argsort(idx, kind="stable")
        sorted_idx = idx[order]
        for shard in self._shards[split]:
            lo = np.searchsorted(sorted_idx, shard.start)
            hi = np.searchsorted(sorted_idx, shard.start + shard.n)
            if hi > lo:
                local = sorted_idx[lo:hi] - shard.start
                for k in keys:
                    if k not in shard.arrays:
                        raise WorldError(f"cache {self.path} holds no {k!r}")
                    parts[k].append(np.asarray(shard.arrays[k][local]))
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        out: dict = {}
        for k in keys:
            arr = np.concatenate(parts[k])[inverse] if parts[k] else np.zeros((0,))
            if k == "codes":
                out[k] = matrix_codes(arr.reshape(-1, len(ATTRIBUTE_NAMES)))
            elif k == "text":
                out[k] = [b.decode("utf-8") for b in arr]
            elif k == "audio":
                out[k] = (arr.astype(np.float32) / 32767.0 if arr.dtype == np.int16
                          else arr.astype(np.float32))
            else:
                out[k] = arr
        return out
