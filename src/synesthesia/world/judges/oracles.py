"""Attribute oracles: classifiers that read a world sample's attributes back from its image, sound
or video, and the caption parser for text.

Coherence of a generated sample is judged by what an oracle reads from it (the "pre-trained
classifier" protocol of Shi et al., 2019, and Daunhawer et al., 2022, for multimodal VAEs; the
oracle idea of CdSprites+, Sejnova et al., 2024). An oracle is only a fair judge when it is
nearly perfect on real samples, so every oracle carries its held-out accuracy per attribute
(``oracle.accuracy``, measured on the test split) and the benchmark ``benchmarks/oracles.py``
checks it.

Oracles are trained on the fly on the world's train split and cached on disk, keyed by the
fingerprint of the world they were trained on (:func:`oracle_world`)::

    <cache>/<fingerprint>/<modality>.safetensors   weights (safetensors, never pickle)
    <cache>/<fingerprint>/<modality>.json          attributes, held-out accuracy, training budget

``<cache>`` is the ``cache_dir`` argument, else ``$SYNESTHESIA_CACHE/oracles``, else
``~/.cache/synesthesia/oracles``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from synesthesia.errors import SynesthesiaError
from synesthesia.io import atomic_path, write_text_atomic
from synesthesia.loop import fit
from synesthesia.world.attributes import ATTRIBUTE_NAMES, ATTRIBUTES, LEVELS, WorldConfig
from synesthesia.world.judges.nets import ImageOracleNet, OracleNet, SoundOracleNet, VideoOracleNet
from synesthesia.world.parser import parse_captions
from synesthesia.world.world import ShapesWorld

ORACLE_FORMAT = 2         # bumped when the nets or their training change: older cache entries train again

class OracleError(SynesthesiaError):
    """Bad oracle request or input; the message says what to do."""

def _image_net(classes: Mapping[str, int], world: WorldConfig) -> OracleNet:
    return ImageOracleNet(classes)

def _video_net(classes: Mapping[str, int], world: WorldConfig) -> OracleNet:
    return VideoOracleNet(classes, world.video_frames)

def _sound_net(classes: Mapping[str, int], world: WorldConfig) -> OracleNet:
    return SoundOracleNet(classes, world.sample_rate)

# modality -> network builder, and which attributes the modality shows at all.
NETWORKS = {"image": _image_net, "video": _video_net, "audio": _sound_net}
SHOWN: dict[str, frozenset[str]] = {
    "image": frozenset(ATTRIBUTE_NAMES) - {"motion"},
    "video": frozenset(ATTRIBUTE_NAMES),
    "audio": frozenset(ATTRIBUTE_NAMES) - {"motion"},      # motion is not sonified
    "text": frozenset(ATTRIBUTE_NAMES),
}
# The world options each modality's samples depend on (everything else is reset to its default).
_RELEVANT = {
    "image": ("image_size",),
    "video": ("video_size", "video_frames"),
    "audio": ("sample_rate", "audio_seconds"),
}
@dataclass(frozen=True)
class OracleTraining:
    """Budget and optimiser settings of one oracle's training (AdamW, one-cycle schedule)."""

    n_train: int = 16000        # training samples, rendered once from the train split
    epochs: int = 3             # passes over them
    batch_size: int = 64        # samples per step
    lr: float = 3e-3            # peak learning rate of the one-cycle schedule
    weight_decay: float = 1e-4  # AdamW weight decay
    n_test: int = 2000          # test-split samples the held-out accuracy is measured on
    seed: int = 0               # seed of the weights and the batch order

# Training budgets measured to give >= 99 % held-out accuracy at levels 1-5 (benchmarks/oracles.py).
DEFAULT_TRAINING: dict[str, OracleTraining] = {
    "image": OracleTraining(n_train=16000, epochs=3, batch_size=64),
    "video": OracleTraining(n_train=20000, epochs=3, batch_size=64),
    "audio": OracleTraining(n_train=12000, epochs=3, batch_size=64),
}

# -- which world an oracle learns ----------------------------------------------------------------
def oracle_attributes(world: WorldConfig, modality: str) -> tuple[str, ...]:
    """Varied attributes that ``modality`` shows, in :data:`ATTRIBUTE_NAMES` order."""
    if modality not in SHOWN:
        raise OracleError(f"no oracle for modality {modality!r}; choose from {', '.join(SHOWN)}")
    return tuple(a for a in world.varied if a in SHOWN[modality])

def oracle_world(world: WorldConfig, modality: str) -> WorldConfig:
    """The world an oracle of ``modality`` is trained on: the varied attributes the modality shows
    (named explicitly, with the lowest level that covers them) and the same rendering options,
    but no held-out combinations (an oracle must recognise them too), no partial captions, seed 0,
    and every option this modality ignores at its default. Worlds that render ``modality``
    identically share one oracle."""
    if modality not in NETWORKS:
        raise OracleError(f"no trained oracle for modality {modality!r}; choose from "
                          f"{', '.join(NETWORKS)} (text is read by TextOracle)")
    if modality not in world.modalities:
        raise OracleError(f"this world has no {modality!r} modality; it has "
                          f"{', '.join(world.modalities)}")
    attributes = oracle_attributes(world, modality)
    if not attributes:
        raise OracleError(f"the world varies no attribute that {modality} shows "
                          f"(it varies {', '.join(world.varied)}); there is nothing to classify")
    keep = {k: getattr(world, k) for k in _RELEVANT[modality]}
    level = min(lv for lv, names in LEVELS.items() if set(attributes) - {"motion"} <= set(names))
    return WorldConfig(level=level, attributes=attributes, modalities=(modality,), **keep)

def default_cache_dir() -> Path:
    """``$SYNESTHESIA_CACHE/oracles`` when that is set, else ``~/.cache/synesthesia/oracles``."""
    root = os.environ.get("SYNESTHESIA_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "synesthesia") / "oracles"

def oracle_paths(world: WorldConfig, modality: str,
                 cache_dir: str | Path | None = None) -> tuple[Path, Path]:
    """``(weights .safetensors, info .json)`` of the cached oracle."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = folder / oracle_world(world, modality).fingerprint()
    return folder / f"{modality}.safetensors", folder / f"{modality}.json"

# -- raw input checks ----------------------------------------------------------------------------
# modality -> per-sample shape the world renders
RAW_SHAPES: dict[str, Callable[[WorldConfig], tuple[int, ...]]] = {
    "image": lambda w: (w.image_size, w.image_size, 3),
    "video": lambda w: (w.video_frames, w.video_size, w.video_size, 3),
    "audio": lambda w: (int(round(w.sample_rate * w.audio_seconds)),),
}
_PIXELS = ("uint8 pixels in 0..255 (as the world renders them); convert with "
           "(x * 255).round().clip(0, 255).astype(uint8)", lambda x: x.dtype == torch.uint8)
_WAVES = ("float waveforms in [-1, 1]", lambda x: x.is_floating_point())
# modality -> (what the oracle reads, dtype check)
RAW_DTYPES = {"image": _PIXELS, "video": _PIXELS, "audio": _WAVES}

def as_raw_tensor(raw: Any, world: WorldConfig, modality: str) -> torch.Tensor:
    """Raw batch (numpy array or tensor) -> tensor, checked against what the world renders:
    uint8 images (N, S, S, 3), uint8 videos (N, T, S, S, 3), float waveforms (N, L)."""
    x = raw if isinstance(raw, torch.Tensor) else torch.as_tensor(np.asarray(raw))
    want = RAW_SHAPES[modality](world)
    if x.ndim != len(want) + 1 or tuple(x.shape[1:]) != want:
        raise OracleError(f"the {modality} oracle of this world reads batches of shape "
                          f"(N, {', '.join(map(str, want))}), got {tuple(x.shape)}; resize or "
                          "render at the world's size")
    reads, ok = RAW_DTYPES[modality]
    if not ok(x):
        raise OracleError(f"the {modality} oracle reads {reads}; got {x.dtype}")
    return x

# -- the oracles ---------------------------------------------------------------------------------
class Oracle:
    """A trained classifier of one modality. ``predict(raw)`` gives attribute -> int64 codes (N,)
    for every attribute in ``attributes``; ``accuracy`` is its held-out accuracy per attribute."""

    def __init__(self, modality: str, world: WorldConfig, net: OracleNet, info: dict) -> None:
        self.modality, self.world, self.net, self.info = modality, world, net.eval(), info
        self.attributes: tuple[str, ...] = tuple(info["attributes"])
        self.accuracy: dict[str, float] = dict(info.get("accuracy", {}))

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def to(self, device: str | torch.device) -> Oracle:
        self.net.to(device)
        return self

    def _batches(self, raw: Any, batch_size: int) -> Iterator[torch.Tensor]:
        """Checked, compacted slices of a raw batch on the oracle's device."""
        x = as_raw_tensor(raw, self.world, self.modality)
        for i in range(0, len(x), batch_size):
            yield self.net.compact(x[i:i + batch_size]).to(self.device)

    @torch.no_grad()
    def logits(self, raw: Any, batch_size: int = 512) -> dict[str, torch.Tensor]:
        """Attribute -> logits (N, K) on the CPU."""
        parts = [self.net(b) for b in self._batches(raw, batch_size)]
        return {a: torch.cat([p[a].cpu() for p in parts]) for a in self.attributes}

    def predict(self, raw: Any, batch_size: int = 512) -> dict[str, np.ndarray]:
        """Attribute -> predicted codes int64 (N,)."""
        logits = self.logits(raw, batch_size)
        return {a: v.argmax(1).numpy().astype(np.int64) for a, v in logits.items()}

    @torch.no_grad()
    def features(self, raw: Any, batch_size: int = 512) -> torch.Tensor:
        """Penultimate features (N, D) float32 on the CPU: the space FID/KID/PR compare in."""
        return torch.cat([self.net.features(b).cpu() for b in self._batches(raw, batch_size)])

    def feature_extractor(self) -> OracleFeatures:
        """An ``nn.Module`` for torchmetrics' ``feature=`` argument (FID, KID)."""
        return OracleFeatures(self.net)

    def __repr__(self) -> str:
        acc = ", ".join(f"{a}={v:.4f}" for a, v in self.accuracy.items())
        return f"Oracle({self.modality}, {self.world.fingerprint()}, accuracy: {acc})"

class OracleFeatures(torch.nn.Module):
    """Raw batch tensor -> oracle features (N, D), always in eval mode and without gradients.
    Has ``num_features`` so torchmetrics does not probe it with a random input."""

    def __init__(self, net: OracleNet) -> None:
        super().__init__()
        self.net = net.eval()
        self.num_features = net.num_features

    def train(self, mode: bool = True) -> OracleFeatures:
        return super().train(False)         # BatchNorm statistics must never change

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(self.net.compact(x))

class TextOracle:
    """Reads captions with the world's own phrase parser (no network). ``predict(texts)`` gives
    attribute -> codes (N,) with -1 where a caption does not say (or contradicts itself)."""

    modality = "text"

    def __init__(self, world: WorldConfig, n_test: int = 300) -> None:
        self.world = world
        self.attributes = oracle_attributes(world, "text")
        self.accuracy = self._measure(n_test)

    def _measure(self, n: int) -> dict[str, float]:
        """Accuracy on ``n`` test captions naming every attribute (1.0: the parser inverts the
        caption templates)."""

        full = WorldConfig(level=self.world.level, attributes=self.attributes, modalities=("text",))
        batch = ShapesWorld(full).render("test", range(n))
        pred = self.predict(batch["text"])
        return {a: float((pred[a] == batch["codes"][a]).mean()) for a in self.attributes}

    def predict(self, texts: Sequence[str], batch_size: int | None = None) -> dict[str, np.ndarray]:

        if isinstance(texts, str):
            raise OracleError("TextOracle.predict takes a list of captions, not one string")
        parsed = parse_captions(list(texts))
        return {a: parsed[a] for a in self.attributes}

# -- training, saving, loading -------------------------------------------------------------------
def _classes(attributes: Sequence[str]) -> dict[str, int]:
    return {a: len(ATTRIBUTES[a]) for a in attributes}

def render_set(world: WorldConfig, split: str, n: int, modality: str,
               compact: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
               chunk: int = 2048) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """Samples 0..n-1 of ``split``: ``compact``-ed raw arrays (N, ...) as one tensor, and their
    codes (attribute -> int64 (N,))."""
    if n <= 0:
        raise OracleError(f"need a positive number of {split} samples, got {n}")
    raws, codes = [], []
    for _, batch in ShapesWorld(world).render_chunks(split, n, chunk=chunk, modalities=[modality]):
        raws.append(compact(torch.from_numpy(batch[modality])))
        codes.append(batch["codes"])
    return torch.cat(raws), {a: np.concatenate([c[a] for c in codes]) for a in codes[0]}

def train_net(net: OracleNet, world: WorldConfig, modality: str, attributes: Sequence[str],
              training: OracleTraining) -> OracleNet:
    """Fit ``net`` in place (one cross-entropy per attribute, summed) on ``training.n_train``
    train-split samples rendered once; returns it in eval mode."""
    x, codes = render_set(world, "train", training.n_train, modality, net.compact)
    y = {a: torch.from_numpy(codes[a]) for a in attributes}
    batch = min(training.batch_size, len(x))
    steps = max(1, training.epochs * (len(x) // batch))

    def loss(idx: torch.Tensor) -> torch.Tensor:
        logits = net(x[idx])
        return sum(F.cross_entropy(logits[a], y[a][idx]) for a in y)

    net.train()
    fit(net.parameters(), loss, len(x), steps, batch, training.lr, "one-cycle", warmup=0.15,
        weight_decay=training.weight_decay, seed=training.seed)
    return net.eval()

@torch.no_grad()
def heldout_accuracy(net: OracleNet, world: WorldConfig, modality: str, attributes: Sequence[str],
                     n_test: int, batch_size: int = 500) -> dict[str, float]:
    """Accuracy per attribute on the first ``n_test`` samples of the test split."""
    x, codes = render_set(world, "test", n_test, modality, net.compact)
    net.eval()
    logits = [net(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return {a: float((torch.cat([lg[a] for lg in logits]).argmax(1).numpy() == codes[a]).mean())
            for a in attributes}

def train_oracle(world: WorldConfig, modality: str,
                 training: OracleTraining | None = None) -> Oracle:
    """Train an oracle for ``modality`` on :func:`oracle_world`'s train split and measure its
    accuracy on the test split."""
    ow = oracle_world(world, modality)
    training = training or DEFAULT_TRAINING[modality]
    attributes = oracle_attributes(ow, modality)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(training.seed)
        net = NETWORKS[modality](_classes(attributes), ow)
    t0 = time.perf_counter()
    train_net(net, ow, modality, attributes, training)
    seconds = time.perf_counter() - t0
    accuracy = heldout_accuracy(net, ow, modality, attributes, training.n_test)
    info = {"format": ORACLE_FORMAT, "modality": modality, "fingerprint": ow.fingerprint(),
            "world": ow.to_dict(), "attributes": list(attributes), "accuracy": accuracy,
            "n_test": training.n_test, "train_seconds": round(seconds, 2),
            "training": asdict(training), "source": "trained"}
    return Oracle(modality, ow, net, info)

def save_oracle(oracle: Oracle, weights: Path, info_path: Path) -> None:
    """Weights first, then the JSON (whose presence marks a complete entry); both atomic."""
    state = {k: v.detach().cpu().contiguous() for k, v in oracle.net.state_dict().items()}
    with atomic_path(weights) as tmp:
        save_file(state, str(tmp), metadata={"format": str(ORACLE_FORMAT),
                                             "fingerprint": oracle.info["fingerprint"]})
    info = {k: v for k, v in oracle.info.items() if k != "source"}
    write_text_atomic(info_path, json.dumps(info, indent=2) + "\n")

def load_oracle(world: WorldConfig, modality: str, weights: Path, info_path: Path) -> Oracle | None:
    """The cached oracle, or None when the entry is missing, incomplete or of an older format."""
    if not (weights.is_file() and info_path.is_file()):
        return None
    info = json.loads(info_path.read_text(encoding="utf-8"))
    ow = oracle_world(world, modality)
    if info.get("format") != ORACLE_FORMAT or info.get("fingerprint") != ow.fingerprint():
        return None
    net = NETWORKS[modality](_classes(info["attributes"]), ow)
    net.load_state_dict(load_file(str(weights)))
    return Oracle(modality, ow, net, {**info, "source": "cache"})

def get_oracle(world: WorldConfig, modality: str, cache_dir: str | Path | None = None,
               training: OracleTraining | None = None,
               retrain: bool = False) -> Oracle | TextOracle:
    """The oracle of ``modality`` for ``world``: loaded from the cache, or trained and cached.

    ``modality="text"`` returns a :class:`TextOracle`. Passing ``training`` different from the
    cached entry's budget, or ``retrain=True``, trains again and replaces the entry.
    ``oracle.info["source"]`` says ``"cache"`` or ``"trained"``.
    """
    if modality == "text":
        if "text" not in world.modalities:
            raise OracleError("this world has no 'text' modality; it has "
                              f"{', '.join(world.modalities)}")
        return TextOracle(world)
    weights, info_path = oracle_paths(world, modality, cache_dir)
    if not retrain:
        oracle = load_oracle(world, modality, weights, info_path)
        if oracle is not None and (training is None or oracle.info["training"] == asdict(training)):
            return oracle
    oracle = train_oracle(world, modality, training)
    save_oracle(oracle, weights, info_path)
    return oracle

def get_oracles(world: WorldConfig, modalities: Sequence[str] | None = None,
                cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Modality -> oracle for every modality of ``world`` (or those named)."""
    mods = world.modalities if modalities is None else tuple(modalities)
    return {m: get_oracle(world, m, cache_dir) for m in mods}

__all__ = ["DEFAULT_TRAINING", "Oracle", "OracleError", "OracleFeatures", "OracleTraining",
           "TextOracle", "default_cache_dir", "get_oracle", "get_oracles", "oracle_attributes",
           "oracle_paths", "oracle_world", "train_oracle"]
