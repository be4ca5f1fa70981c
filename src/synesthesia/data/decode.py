"""Samples -> stored arrays through the modality codecs, with bad files turned into rejections.

Each sample is decoded on its own (``modality.read`` then ``modality.encode([raw])``), so one
unreadable, truncated, empty or undecodable file costs that sample only: it is skipped and
recorded with its path and reason. Stored forms: images and videos uint8, sound the float16
log-mel spectrogram the audio modality trains on, captions int32 token ids ``(K, L)`` with
their count (several captions per sample; absent ones are zero rows).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synesthesia.data.errors import SampleError
from synesthesia.data.readers.base import Media, Sample
from synesthesia.data.readers.safety import MEDIA_LIMIT, check_regular
from synesthesia.data.store import compact
from synesthesia.modalities.base import InputAdjusted, Modality


@dataclass
class Encoded:
    """Decoded samples, column by column (only accepted samples)."""

    keys: list[str]
    arrays: dict[str, np.ndarray]            # modality -> (n, *stored shape); text: (n, K, L) int32
    present: dict[str, np.ndarray]           # modality -> bool (n,)
    text_count: np.ndarray                   # uint8 (n,): captions kept per sample
    captions: list[list[str]]                # the raw captions kept, for evaluation references
    rejected: list[dict] = field(default_factory=list)       # samples skipped (count toward the limit)
    dropped: list[dict] = field(default_factory=list)        # captions skipped (the sample is kept)
    adjustments: dict[str, int] = field(default_factory=dict)  # input-policy notes and how often

    def __len__(self) -> int:
        return len(self.keys)


def rejection(sample: Sample, reason: str, path: str = "", kind: str = "sample") -> dict:
    return {"key": sample.key, "split": sample.split, "path": path or sample.origin, "reason": reason,
            "kind": kind}


class Decoder:
    """Decode samples for ``modalities`` (text must already have its tokenizer); captions per
    sample are padded to ``max_captions``."""

    def __init__(self, modalities: Mapping[str, Modality], max_captions: int,
                 max_media_bytes: int = MEDIA_LIMIT, tmp_dir: str | None = None) -> None:
        self.modalities = dict(modalities)
        self.max_captions = max(1, max_captions)
        self.max_media_bytes = max_media_bytes
        self.tmp_dir = tmp_dir
        self.adjustments: Counter = Counter()

    # -- one file ---------------------------------------------------------------------------
    def _read(self, modality: Modality, media: Media):
        if media.error:
            raise SampleError(media.error, media.name)
        if not media.member:
            check_regular(media.path, self.max_media_bytes, f"{modality.name} file")
            return modality.read(media.path)
        if media.size <= 0:
            raise SampleError("tar member is empty", media.name)
        if media.size > self.max_media_bytes:
            raise SampleError(f"tar member is {media.size:,} bytes, over the limit of "
                              f"{self.max_media_bytes:,}", media.name)
        with open(media.path, "rb") as f:
            f.seek(media.offset)
            data = f.read(media.size)
        if len(data) != media.size:
            raise SampleError("tar member is truncated", media.name)
        fd, tmp = tempfile.mkstemp(suffix=media.suffix, dir=self.tmp_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return modality.read(Path(tmp))
        finally:
            os.unlink(tmp)

    def _media(self, name: str, media: Media) -> np.ndarray:
        modality = self.modalities[name]
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", InputAdjusted)
                x = compact(name, modality.encode([self._read(modality, media)]))
            self.adjustments.update(str(w.message) for w in caught if issubclass(w.category, InputAdjusted))
        except SampleError:
            raise
        except Exception as err:       # any decoder's failure on a bad file is this sample's only
            raise SampleError(f"cannot decode {name}: {type(err).__name__}: {err}", media.name) from None
        return x[0].numpy()

    # -- captions ---------------------------------------------------------------------------
    def _captions(self, sample: Sample, dropped: list[dict]) -> tuple[list[str], np.ndarray | None]:
        text = self.modalities.get("text")
        kept: list[str] = []
        for c in sample.captions:
            if not isinstance(c, str):
                dropped.append(rejection(sample, f"caption is {type(c).__name__}, not text", kind="caption"))
            elif not c.strip():
                dropped.append(rejection(sample, "empty caption", kind="caption"))
            else:
                kept.append(c.strip())
        if text is None or not kept:
            return kept, None
        rows, good = [], []
        for c in kept[: self.max_captions]:
            try:                             # training data: an over-long caption is cut, and counted
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", InputAdjusted)
                    rows.append(text.encode_data([c])[0].numpy().astype(np.int32))
                self.adjustments.update(str(w.message).split(" (e.g.")[0] for w in caught
                                        if issubclass(w.category, InputAdjusted))
                good.append(c)
            except Exception as err:
                dropped.append(rejection(sample, f"caption {c[:60]!r} cannot be encoded: {err}", kind="caption"))
        if len(kept) > self.max_captions:
            dropped.append(rejection(sample, f"{len(kept) - self.max_captions} caption(s) beyond the "
                                     f"{self.max_captions} kept per sample", kind="caption"))
        return good, (np.stack(rows) if rows else None)

    # -- one sample -------------------------------------------------------------------------
    def sample(self, sample: Sample, dropped: list[dict]) -> tuple[dict, list[str], np.ndarray | None]:
        """The stored arrays of one sample, its captions and their ids; :class:`SampleError`
        when the sample cannot be used."""
        if sample.error:
            raise SampleError(sample.error, sample.origin)
        arrays = {}
        for name, media in sample.media.items():
            if name in self.modalities and name != "text":
                arrays[name] = self._media(name, media)
        if "text" in self.modalities and "text" in sample.media:      # a caption file that failed
            raise SampleError(sample.media["text"].error or "caption file unreadable", sample.media["text"].name)
        captions, ids = self._captions(sample, dropped)
        written = [c for c in sample.captions if isinstance(c, str) and c.strip()]
        if "text" in self.modalities and sample.captions and not written:
            raise SampleError("every caption is empty", sample.origin)
        if not arrays and ids is None:
            raise SampleError(f"nothing usable for {sorted(self.modalities)}", sample.origin)
        return arrays, captions, ids

    def run(self, samples: Sequence[Sample]) -> Encoded:
        """Decode ``samples`` in order; the bad ones become rejections."""
        self.adjustments = Counter()
        keys, cols, ids_list, captions, rejected, dropped = [], [], [], [], [], []
        for s in samples:
            try:
                arrays, caps, ids = self.sample(s, dropped)
            except SampleError as err:
                rejected.append(rejection(s, err.reason, err.path))
                continue
            keys.append(s.key)
            cols.append(arrays)
            ids_list.append(ids)
            captions.append(caps)
        return self._columns(keys, cols, ids_list, captions, rejected, dropped)

    def _columns(self, keys, cols, ids_list, captions, rejected, dropped) -> Encoded:
        n = len(keys)
        arrays, present = {}, {}
        for name, modality in self.modalities.items():
            if name == "text":
                length = modality.shape[0]
                out = np.zeros((n, self.max_captions, length), dtype=np.int32)
                for i, ids in enumerate(ids_list):
                    if ids is not None:
                        out[i, :len(ids)] = ids
                arrays[name] = out
                present[name] = np.array([ids is not None for ids in ids_list], dtype=bool)
                continue
            shape, dtype = stored_spec(name, modality)
            out = np.zeros((n, *shape), dtype=dtype)
            for i, c in enumerate(cols):
                if name in c:
                    out[i] = c[name]
            arrays[name] = out
            present[name] = np.array([name in c for c in cols], dtype=bool)
        count = np.array([0 if ids is None else len(ids) for ids in ids_list], dtype=np.uint8)
        return Encoded(keys, arrays, present, count, captions, rejected, dropped, dict(self.adjustments))


def stored_spec(name: str, modality: Modality) -> tuple[tuple[int, ...], np.dtype]:
    """The per-sample shape and dtype a modality is stored in (see :func:`compact`)."""
    if name in ("image", "video"):
        return tuple(modality.shape), np.dtype(np.uint8)
    if name == "text":
        return tuple(modality.shape), np.dtype(np.int32)
    return tuple(modality.shape), np.dtype(np.float16)
