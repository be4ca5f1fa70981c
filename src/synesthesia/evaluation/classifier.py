"""Class judges: classifiers of one modality that read the class of generated samples.

On labelled data (Fashion-MNIST, spoken class names, ...) a generated sample is judged the way
the world's oracles judge theirs (the "pre-trained classifier" protocol of Shi et al., 2019): a
classifier trained on the real training samples reads its class, and class accuracy is how often
that is the class asked for. The judge's own accuracy on real held-out samples is its ceiling and
is kept with it. Its penultimate features serve FID (as Inception's do for ImageNet; Heusel et al.,
2017) through :meth:`ClassJudge.feature_extractor`.

A judge is the modality's default encoder, dropout and a linear layer, trained with the small loop
(:func:`synesthesia.loop.fit`) on model-form tensors (what ``Modality.encode`` gives), optionally
augmented. Saved as a folder::

    <folder>/judge.safetensors   weights (safetensors, never pickle)
    <folder>/judge.json          modality name and config, classes, training, held-out accuracy
    <folder>/assets/             what the modality needs to rebuild (a tokenizer)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from synesthesia.checkpoint import read_module_info, save_module
from synesthesia.errors import SynesthesiaError
from synesthesia.loop import fit
from synesthesia.modalities import Modality, build_modality

JUDGE_FORMAT = 1
STEM = "judge"                      # judge.safetensors and judge.json
WEIGHTS_FILE = f"{STEM}.safetensors"
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


class JudgeError(SynesthesiaError):
    """Bad judge request, data or folder; the message says what to do."""


class ClassJudge(nn.Module):
    """x (B, *shape) -> encoder (B, F) -> dropout -> linear -> class logits (B, K)."""

    def __init__(self, modality: Modality, classes: Sequence[str], dropout: float = 0.2) -> None:
        super().__init__()
        if len(classes) < 2:
            raise JudgeError(f"a class judge needs at least two classes; got {list(classes)}")
        self.modality, self.classes, self.dropout = modality, list(classes), dropout
        self.encoder = modality.build_encoder()
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(modality.feature_dim, len(classes)))
        self.info: dict = {}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.encoder(x))                                  # (B, F)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))                              # (B, K)

    @torch.no_grad()
    def logits(self, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        was = self.training
        self.eval()
        out = torch.cat([self(x[i:i + batch_size].float()) for i in range(0, len(x), batch_size)])
        self.train(was)
        return out

    def predict(self, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """The class index (B,) read from each sample."""
        return self.logits(x, batch_size).argmax(-1)

    def accuracy(self, x: torch.Tensor, labels: torch.Tensor) -> float:
        if len(x) != len(labels) or not len(x):
            raise JudgeError(f"accuracy needs as many labels as samples (> 0); got {len(x)} and {len(labels)}")
        return float((self.predict(x) == labels.to(torch.long)).float().mean())

    def per_class(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """Accuracy per class (classes without samples left out)."""
        hit = self.predict(x) == labels.to(torch.long)
        return {c: float(hit[labels == k].float().mean()) for k, c in enumerate(self.classes)
                if bool((labels == k).any())}

    def feature_extractor(self) -> nn.Module:
        """A module mapping samples to the judge's penultimate features, with ``num_features``
        (what :mod:`synesthesia.evaluation.fidelity` takes for FID and KID)."""
        return _Features(self)

    def save(self, folder: str | Path) -> Path:
        """Write assets, weights, then ``judge.json`` (its presence marks a complete folder)."""
        self.modality.save_assets(Path(folder) / "assets")
        info = {"modality": self.modality.name, "modality_config": self.modality.config(),
                "classes": self.classes, "dropout": self.dropout, **self.info}
        return save_module(folder, STEM, self, info, JUDGE_FORMAT)


class _Features(nn.Module):
    def __init__(self, judge: ClassJudge) -> None:
        super().__init__()
        self.judge, self.num_features = judge, judge.modality.feature_dim

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.judge.eval()
        return self.judge.features(x.float()).double()


def random_shift(pixels: int, dims: int = 2) -> Augment:
    """An augmentation moving each sample by up to ``pixels`` along its last ``dims`` axes
    (images: 2, spectrogram time: 1), filling with the sample's edge values."""
    def shift(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        pad = [pixels] * (2 * dims)
        padded = F.pad(x, pad, mode="replicate") if x.ndim - dims >= 1 else x
        out = torch.empty_like(x)
        offsets = torch.randint(0, 2 * pixels + 1, (len(x), dims), generator=g)
        for i in range(len(x)):
            index = [slice(None)] * (x.ndim - 1 - dims)
            index += [slice(int(o), int(o) + s) for o, s in zip(offsets[i], x.shape[-dims:])]
            out[i] = padded[i][tuple(index)]
        return out
    return shift


def train_class_judge(modality: Modality, classes: Sequence[str], x: torch.Tensor, labels: torch.Tensor,
                      val: tuple[torch.Tensor, torch.Tensor] | None = None, steps: int = 2000,
                      batch_size: int = 128, lr: float = 2e-3, weight_decay: float = 1e-4,
                      dropout: float = 0.2, augment: Augment | None = None, seed: int = 0,
                      log: Callable[[str], None] | None = None) -> ClassJudge:
    """Train a judge on samples ``x`` (N, *shape) with class indices ``labels`` (N,); with ``val``
    its held-out accuracy (overall and per class) is kept in ``judge.info["heldout"]``. The same
    seed gives the same weights."""
    labels = labels.to(torch.long)
    if len(x) != len(labels) or len(x) < 2:
        raise JudgeError(f"need at least two samples with one label each; got {len(x)} samples, {len(labels)} labels")
    if int(labels.min()) < 0 or int(labels.max()) >= len(classes):
        raise JudgeError(f"labels must lie in [0, {len(classes)}) (one per class of {list(classes)}); "
                         f"got {int(labels.min())} .. {int(labels.max())}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        judge = ClassJudge(modality, classes, dropout)
        g = torch.Generator().manual_seed(seed + 1)

        def loss_of(idx: torch.Tensor) -> torch.Tensor:
            xb = x[idx].float()
            xb = augment(xb, g) if augment is not None else xb
            return F.cross_entropy(judge(xb), labels[idx])

        def progress(step: int, loss: float) -> None:
            if log is not None:
                log(f"    judge step {step}/{steps}: loss {loss:.3f}")

        judge.train()
        summary = fit(judge.parameters(), loss_of, len(x), steps, batch_size, lr, schedule="one-cycle",
                      weight_decay=weight_decay, clip=5.0, seed=seed, every=max(1, steps // 5), on_every=progress)
    judge.eval()
    judge.info = {"training": {**summary.to_dict(), "batch_size": batch_size, "lr": lr, "samples": len(x),
                               "augmented": augment is not None}}
    if val is not None:
        judge.info["heldout"] = {"accuracy": judge.accuracy(*val), "per_class": judge.per_class(*val),
                                 "samples": len(val[0])}
    return judge


def load_class_judge(folder: str | Path) -> ClassJudge:
    """Rebuild a saved judge (its modality from the folder's config and assets)."""
    folder = Path(folder)
    info = read_module_info(folder, STEM, JUDGE_FORMAT, JudgeError, "class judge",
                            "train one with train_class_judge(...) and save it")
    modality = build_modality(info["modality"], **info["modality_config"])
    modality.load_assets(folder / "assets")
    judge = ClassJudge(modality, info["classes"], info.get("dropout", 0.2))
    try:
        judge.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    except RuntimeError as err:
        raise JudgeError(f"the weights in {folder} do not fit its modality config: {err}") from err
    judge.info = {k: v for k, v in info.items() if k not in ("format", "modality", "modality_config", "classes",
                                                           "dropout")}      # what its trainer recorded
    return judge.eval()


__all__ = ["ClassJudge", "JudgeError", "load_class_judge", "random_shift", "train_class_judge"]
