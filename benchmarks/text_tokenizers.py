"""Word-level against byte-level BPE text on the shapes world: the same captioner trained for the
same number of steps with each tokenizer, scored on held-out images.

For each tokenizer: the image -> text captioner of ``configs/transformer/captioner-l5-image.yaml``
(narrowed by ``--width``) trains ``--steps`` steps on the level-5 world, then captions ``--n`` test
images greedily; the world's caption parser reads the captions back and a caption counts as
correct (strict) when every attribute it should name is right. Also reported: vocabulary size,
tokens per caption (max_len), seconds per training step. Prints JSON lines and a markdown table.

    python benchmarks/text_tokenizers.py [--steps 1500] [--n 1000] [--width 96] [--out runs/bench-text]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

PRESET = Path(__file__).resolve().parents[1] / "configs" / "transformer" / "captioner-l5-image.yaml"


def train_one(tokenizer: str, args) -> Path:
    from synesthesia.runs.config import RunConfig
    from synesthesia.training.run import train

    out = Path(args.out) / tokenizer
    if (out / "model.safetensors").is_file():
        return out
    config = RunConfig.from_yaml(PRESET, [
        f"modalities.text.tokenizer={tokenizer}", f"model.width={args.width}", "train.max_minutes=null",
        f"train.max_steps={args.steps}", "train.max_epochs=1000", f"data.n_train={args.n_train}",
        f"train.threads={args.threads}", "train.checkpoint_every=100000", "train.precision=32-true"])
    return train(config, out, progress=False)


def score(run: Path, n: int) -> dict:
    import torch

    from synesthesia.data.sources import WorldSource
    from synesthesia.evaluation.generation import generate_tensors
    from synesthesia.pipeline import load
    from synesthesia.world.parser import parse_captions

    pipe = load(run)
    source = WorldSource.from_config(pipe.config.data.world)
    test = source.dataset("test", n, pipe.modalities)
    batch = test[list(range(n))]
    with torch.no_grad():
        ids = generate_tensors(pipe, {"image": batch.data["image"]}, "text", seed=0, temperature=0.0)
    captions = pipe.modalities["text"].decode(ids)
    truth = source.load("test", n, ["text"])["codes"]
    parsed = parse_captions(captions)
    varied = source.config.varied
    right = {a: parsed[a] == np.asarray(truth[a]) for a in varied}
    metrics = json.loads((run / "metrics.json").read_text())
    train = metrics["training"]
    return {"strict": float(np.mean(np.all([right[a] for a in varied], axis=0))),
            "per_attribute": {a: round(float(v.mean()), 3) for a, v in right.items()},
            "vocab_size": pipe.modalities["text"].vocab_size, "max_len": pipe.modalities["text"].max_len,
            "steps": train["global_step"], "seconds": train["train_seconds"],
            "example": captions[:3]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1500, help="training steps per tokenizer (default 1500)")
    ap.add_argument("--n", type=int, default=1000, help="test images captioned (default 1000)")
    ap.add_argument("--n-train", type=int, default=20000, help="training samples (default 20000)")
    ap.add_argument("--width", type=int, default=96, help="captioner width (default 96)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--out", default="runs/bench-text", help="where the two runs are kept")
    args = ap.parse_args()
    rows = []
    for tokenizer in ("word", "bpe"):
        t0 = time.perf_counter()
        run = train_one(tokenizer, args)
        row = {"tokenizer": tokenizer, "cpu_count": os.cpu_count(), **score(run, args.n),
               "wall_seconds": round(time.perf_counter() - t0, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| tokenizer | strict image→text | vocabulary | max_len | steps | train s |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['tokenizer']} | {r['strict']:.3f} | {r['vocab_size']} | {r['max_len']} | {r['steps']} | "
              f"{r['seconds']} |")


if __name__ == "__main__":
    main()
