"""The judges of the real-data benchmark on Fashion-MNIST, trained on its real samples.

* image: a class judge on the real training images, at the runs' image settings; its accuracy on
  the 10,000 real test images is its ceiling (it must be at least 90 %), its features give FID;
* speech: a class judge on the distinct spoken captions of the training voices, read on the
  held-out voices of the test split (its ceiling), and on those clips after a Griffin-Lim round
  trip (what generated speech goes through);
* text: the label parser, which reads the class word of a caption (checked on the real captions).

    PYTHONPATH=src python benchmarks/realdata/judges.py --data data/realdata --out runs/realdata/judges

A judge already in ``--out`` is loaded, not trained again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realdata.sources import FASHION_CLASSES
from synesthesia.evaluation.classifier import (
    ClassJudge,
    load_class_judge,
    random_shift,
    train_class_judge,
)
from synesthesia.evaluation.labels import LabelParser
from synesthesia.modalities import Modality, build_modality

# The modality settings of the Fashion-MNIST runs (configs/realdata/*-fashion.yaml); a run with
# other settings cannot be judged by these judges (the runner checks).
MODALITIES = {"image": {"size": 32},
              "audio": {"sample_rate": 8000, "seconds": 3.0, "n_mels": 64, "frames": 64, "n_fft": 512}}
JUDGED_KEYS = {"image": ("size",), "audio": ("sample_rate", "seconds", "n_mels", "frames", "n_fft")}
PHRASES = {"t-shirt": ["t-shirt", "t shirt", "tshirt"], "trousers": ["trousers", "pair of trousers"]}
BUDGETS = {"image": dict(steps=4000, batch_size=128, lr=3e-3, augment=random_shift(2)),
           "audio": dict(steps=2500, batch_size=64, lr=2e-3, augment=random_shift(4, dims=1))}


def parser() -> LabelParser:
    return LabelParser(FASHION_CLASSES, PHRASES)


def rows(dataset: str | Path, split: str, distinct: str | None = None, n: int | None = None) -> list[dict]:
    """The metadata rows of ``split`` (the first ``n``; with ``distinct``, one per value of that key)."""
    out, seen = [], set()
    with open(Path(dataset) / "metadata.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["split"] != split or (distinct and r[distinct] in seen):
                continue
            seen.add(r.get(distinct))
            out.append(r)
            if n is not None and len(out) >= n:
                break
    return out


def encode(dataset: str | Path, rows_: list[dict], modality: Modality, chunk: int = 2000) -> torch.Tensor:
    """Model-form tensors of the rows' files of ``modality`` (image or audio)."""
    import warnings

    from synesthesia.modalities.base import InputAdjusted

    key = f"{modality.name}_file_name"
    parts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputAdjusted)
        for lo in range(0, len(rows_), chunk):
            parts.append(modality.encode([str(Path(dataset) / r[key]) for r in rows_[lo:lo + chunk]]))
    return torch.cat(parts)


def labels(rows_: list[dict]) -> torch.Tensor:
    return torch.tensor([r["label"] for r in rows_], dtype=torch.long)


def modality(name: str) -> Modality:
    return build_modality(name, **MODALITIES[name])


def round_trip(audio: Modality, x: torch.Tensor) -> torch.Tensor:
    """Spectrograms -> waveforms (Griffin-Lim) -> spectrograms: what generated speech is read as."""
    return audio.encode([(w, audio.sample_rate) for w in audio.decode_batch(x)])


def train_judge(name: str, dataset: Path, small: bool = False, log=print) -> ClassJudge:
    mod = modality(name)
    distinct = "audio_file_name" if name == "audio" else None
    train_rows, test_rows = rows(dataset, "train", distinct), rows(dataset, "test", distinct)
    log(f"  {name} judge: {len(train_rows):,} training samples, {len(test_rows):,} held out")
    x, y = encode(dataset, train_rows, mod), labels(train_rows)
    val = (encode(dataset, test_rows, mod), labels(test_rows))
    budget = dict(BUDGETS[name], steps=10 if small else BUDGETS[name]["steps"])
    judge = train_class_judge(mod, FASHION_CLASSES, x, y, val=val, seed=0, log=log, **budget)
    if name == "audio":
        judge.info["heldout_round_trip"] = {"accuracy": judge.accuracy(round_trip(mod, val[0]), val[1]),
                                            "samples": len(val[1])}
    return judge


def get_judges(dataset: str | Path, out: str | Path, small: bool = False, log=print) -> dict[str, ClassJudge]:
    """The image and speech judges, trained into ``out`` unless already there."""
    judges = {}
    for name in ("image", "audio"):
        folder = Path(out) / name
        if (folder / "judge.json").is_file():
            judges[name] = load_class_judge(folder)
        else:
            judges[name] = train_judge(name, Path(dataset), small, log)
            judges[name].save(folder)
        held = judges[name].info["heldout"]
        log(f"  {name} judge: held-out accuracy {held['accuracy']:.4f} on {held['samples']:,} samples")
    return judges


def check_settings(run_modalities: dict[str, Modality]) -> None:
    """Refuse a run whose image or audio settings differ from the judges'."""
    for name, keys in JUDGED_KEYS.items():
        if name in run_modalities:
            have = {k: getattr(run_modalities[name], k) for k in keys}
            want = {k: v for k, v in MODALITIES[name].items() if k in keys}
            if any(float(have[k]) != float(want[k]) for k in keys):
                raise SystemExit(f"the run's {name} settings {have} differ from the judges' {want}")


def judge_rows(judges: dict[str, ClassJudge], dataset: Path, command: str) -> list[dict]:
    """Result rows of the judges' own accuracy (and the parser's on the real test captions)."""
    test = rows(dataset, "test")
    captions = [c for r in test for c in r["text"]]
    truth = [r["label"] for r in test for _ in r["text"]]
    out = [{"kind": "judge", "dataset": "fashion-mnist", "judge": "caption parser", "on": "real test captions",
            "accuracy": parser().accuracy(captions, truth), "n": len(captions), "command": command}]
    for name, what in (("image", "real test images"), ("audio", "spoken captions, held-out voices")):
        j = judges[name]
        out.append({"kind": "judge", "dataset": "fashion-mnist", "judge": f"{name} classifier", "on": what,
                    "accuracy": j.info["heldout"]["accuracy"], "n": j.info["heldout"]["samples"],
                    "per_class": j.info["heldout"]["per_class"], "training": j.info["training"],
                    "command": command})
        if "heldout_round_trip" in j.info:
            out.append({"kind": "judge", "dataset": "fashion-mnist", "judge": f"{name} classifier",
                        "on": "held-out voices after Griffin-Lim", "accuracy": j.info["heldout_round_trip"]["accuracy"],
                        "n": j.info["heldout_round_trip"]["samples"], "command": command})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/realdata")
    p.add_argument("--out", default="runs/realdata/judges")
    p.add_argument("--small", action="store_true", help="a few steps (tests)")
    a = p.parse_args(argv)
    torch.manual_seed(0)
    np.random.seed(0)
    judges = get_judges(Path(a.data) / "fashion-mnist", a.out, a.small)
    for r in judge_rows(judges, Path(a.data) / "fashion-mnist", "python benchmarks/realdata/judges.py"):
        print(json.dumps({k: v for k, v in r.items() if k not in ("per_class", "training")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
