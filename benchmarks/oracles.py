"""Held-out accuracy and training time of the attribute oracles, levels 1-5.

Trains every oracle from scratch (in a temporary cache unless --cache is given) with its default
budget and prints, as JSON and a markdown table, the test-split accuracy per attribute and the
training seconds (rendering the training set + fitting). An oracle is a fair judge of coherence
only when every attribute is read at >= 99 %; the script exits with status 1 when one is not.

    OMP_NUM_THREADS=1 python benchmarks/oracles.py [--levels 1 2 3 4 5] [--threads 1]
        [--setups image32 image64 video audio] [--n-test 4000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace

import torch

from synesthesia.world import WorldConfig
from synesthesia.world.judges.oracles import DEFAULT_TRAINING, get_oracle

SETUPS = {
    "image32": ("image", dict(image_size=32)),
    "image64": ("image", dict(image_size=64)),
    "video": ("video", dict(video_size=32, video_frames=8)),
    "audio": ("audio", dict(sample_rate=8000, audio_seconds=1.0)),
}
THRESHOLD = 0.99


def measure(setup: str, level: int, cache: str, n_test: int) -> dict:
    modality, options = SETUPS[setup]
    world = WorldConfig(level=level, modalities=(modality,), **options)
    training = replace(DEFAULT_TRAINING[modality], n_test=n_test)
    t0 = time.perf_counter()
    oracle = get_oracle(world, modality, cache_dir=cache, training=training, retrain=True)
    return {"setup": setup, "level": level, "accuracy": oracle.accuracy,
            "min_accuracy": min(oracle.accuracy.values()),
            "train_seconds": oracle.info["train_seconds"],
            "total_seconds": round(time.perf_counter() - t0, 2),
            "n_train": training.n_train, "epochs": training.epochs, "n_test": n_test}


def table(rows: list[dict]) -> str:
    names = ("shape", "size", "colour", "position", "background", "motion")
    head = "| setup | level | " + " | ".join(names) + " | min | train s |"
    lines = [head, "|" + "---|" * (len(names) + 4)]
    for r in rows:
        cells = [f"{100 * r['accuracy'][a]:.2f}" if a in r["accuracy"] else "–" for a in names]
        lines.append(f"| {r['setup']} | {r['level']} | " + " | ".join(cells)
                     + f" | {100 * r['min_accuracy']:.2f} | {r['train_seconds']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--setups", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--n-test", type=int, default=4000, help="test samples per accuracy")
    ap.add_argument("--cache", default=None, help="oracle cache folder (default: a temporary one)")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or tmp
        rows = []
        for setup in args.setups:
            for level in args.levels:
                rows.append(measure(setup, level, cache, args.n_test))
                print(json.dumps(rows[-1]), flush=True)
    result = {"threads": args.threads, "cpu_count": os.cpu_count(), "threshold": THRESHOLD,
              "rows": rows}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    print()
    print(table(rows))
    failed = [f"{r['setup']} L{r['level']}" for r in rows if r["min_accuracy"] < THRESHOLD]
    if failed:
        print(f"\nbelow {THRESHOLD:.0%}: {', '.join(failed)}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
