"""Counter-based random numbers: every draw is a pure function of (seed, split, index, stream,
element), so a sample never depends on which batch it was rendered in.

The mixer is SplitMix64 (Steele, Lea & Flood, 2014), applied to numpy uint64 arrays.
"""

from __future__ import annotations

import zlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def _key(*parts: int) -> np.uint64:
    k = np.uint64(0)
    for p in parts:
        k = _mix(np.asarray(k ^ np.uint64(p & 0xFFFFFFFFFFFFFFFF), dtype=np.uint64))
    return np.uint64(k)


class BatchRandom:
    """Uniform draws for a batch of sample indices.

    ``uniform("jitter", 2)`` returns an array of shape ``(N, 2)`` in [0, 1); the same stream name,
    index and element always give the same number.
    """

    def __init__(self, seed: int, split: int, indices: np.ndarray) -> None:
        self.indices = np.asarray(indices, dtype=np.uint64)
        self._base = _key(int(seed), int(split) + 1)

    def __len__(self) -> int:
        return len(self.indices)

    def subset(self, rows: np.ndarray) -> BatchRandom:
        """The same streams for a subset of the batch's samples."""
        out = BatchRandom.__new__(BatchRandom)
        out.indices, out._base = self.indices[rows], self._base
        return out

    def bits(self, stream: str, *shape: int) -> np.ndarray:
        """Raw 64-bit draws of shape ``(N, *shape)``."""
        s = np.uint64(zlib.crc32(stream.encode()))
        with np.errstate(over="ignore"):
            row = _mix(self.indices ^ _mix(np.asarray(self._base ^ s, dtype=np.uint64)))
        size = int(np.prod(shape)) if shape else 1
        cols = np.arange(size, dtype=np.uint64)
        with np.errstate(over="ignore"):
            out = _mix(row[:, None] * np.uint64(0x100000001B3) + cols[None, :])
        return out.reshape((len(self.indices),) + tuple(shape))

    def uniform(self, stream: str, *shape: int) -> np.ndarray:
        """Float64 draws in [0, 1) of shape ``(N, *shape)``."""
        return (self.bits(stream, *shape) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))

    def integers(self, stream: str, high: int, *shape: int) -> np.ndarray:
        """Int64 draws in [0, high) of shape ``(N, *shape)``."""
        return np.minimum((self.uniform(stream, *shape) * high).astype(np.int64), high - 1)
