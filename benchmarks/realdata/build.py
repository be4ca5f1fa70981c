"""Build the real-data benchmark's datasets from installed Debian packages only.

    PYTHONPATH=src python benchmarks/realdata/build.py --out data/realdata [--small 40] [--workers 2]

Two Hugging Face folder datasets (``metadata.jsonl`` with a ``split`` column, an image, a spoken
caption and several captions per row), which ``synesthesia train --set data.path=...`` reads:

* ``fashion-mnist/``: the 70,000 real images (official train split: train and the last 1,000 as
  validation; official test split: test), captions made from the class by several templates,
  the first caption spoken;
* ``emoji/``: every fully-qualified emoji of ``emoji-test.txt`` drawn with Noto Color Emoji at
  64 px, captioned by its Unicode name (and its CLDR keywords), the name spoken; a random tenth of
  the emoji is the test split and a twentieth the validation split.

Spoken captions come from espeak-ng and flite (see ``TRAIN_VOICES``): the test split is spoken only
by voices the other splits never use. ``--small N`` builds N samples per split (tests). Each
dataset is written into a temporary folder renamed into place when complete; clips are cached by
content hash and hard-linked into the dataset. An existing dataset is kept (delete it to rebuild).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realdata import sources, speech
from synesthesia.io import atomic_dir, write_text_atomic

FASHION_VAL = 1000          # the last images of the official train split are the validation split
EMOJI_TEST, EMOJI_VAL = 0.10, 0.05
CAPTIONS_PER_IMAGE = 4      # Fashion-MNIST captions per image, each from a different template
TRAIN_VOICES = speech.voices(espeak=("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-029"),
                             flite=("kal", "awb", "slt"))
TEST_VOICES = speech.voices(espeak=("en-gb-x-rp", "en-gb-x-gbcwmd"), flite=("rms",))
DATASETS = ("fashion-mnist", "emoji")


def voices_for(split: str) -> list[speech.Voice]:
    return TEST_VOICES if split == "test" else TRAIN_VOICES


# -- rows ---------------------------------------------------------------------------------------
def fashion_rows(small: int | None, seed: int) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Metadata rows (without files) and the images per split."""
    rng = np.random.default_rng(seed)
    train_x, train_y = sources.fashion_mnist("train")
    test_x, test_y = sources.fashion_mnist("test")
    parts = {"train": (train_x[:-FASHION_VAL], train_y[:-FASHION_VAL]),
             "validation": (train_x[-FASHION_VAL:], train_y[-FASHION_VAL:]), "test": (test_x, test_y)}
    rows, images = [], {}
    for split, (x, y) in parts.items():
        n = len(x) if small is None else min(small, len(x))
        images[split] = x[:n]
        voices = voices_for(split)
        for k in range(n):
            label = int(y[k])
            templates = rng.choice(len(sources.FASHION_TEMPLATES), CAPTIONS_PER_IMAGE, replace=False)
            captions = [sources.FASHION_TEMPLATES[t].format(sources.FASHION_NOUNS[label]) for t in templates]
            rows.append({"split": split, "index": k, "label": label, "class": sources.FASHION_CLASSES[label],
                         "text": captions, "spoken": captions[0],
                         "voice": voices[int(rng.integers(len(voices)))]})
    return rows, images


def emoji_rows(small: int | None, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    emoji = sources.read_emoji()
    sources.attach_keywords(emoji, sources.read_keywords())
    order = rng.permutation(len(emoji))
    n_test, n_val = int(round(EMOJI_TEST * len(emoji))), int(round(EMOJI_VAL * len(emoji)))
    splits = {"test": order[:n_test], "validation": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    rows = []
    for split in ("train", "validation", "test"):
        chosen = np.sort(splits[split])
        voices = voices_for(split)
        for k, i in enumerate(chosen if small is None else chosen[:small]):
            e = emoji[int(i)]
            rows.append({"split": split, "index": k, "emoji": e.text, "group": e.group, "text": e.captions,
                         "spoken": e.name, "voice": voices[int(rng.integers(len(voices)))]})
    return rows


# -- writing ------------------------------------------------------------------------------------
def link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def attach_speech(rows: list[dict], folder: Path, cache: Path, workers: int, log) -> dict:
    """Speak every row's ``spoken`` text with its voice, link the clips into ``folder/speech/``
    and set ``audio_file_name``; returns the clips' length statistics."""
    clips = speech.speak_all(((r["spoken"], r["voice"]) for r in rows), cache, workers, log)
    seconds = []
    for r in rows:
        src = clips[(r["spoken"], r["voice"])]
        rel = Path("speech") / src.parent.name / src.name
        link(src, folder / rel)
        r["audio_file_name"] = rel.as_posix()
    import soundfile as sf

    for path in {clips[(r["spoken"], r["voice"])] for r in rows}:
        seconds.append(sf.info(str(path)).duration)
    s = np.asarray(seconds)
    return {"clips": len(s), "seconds_mean": round(float(s.mean()), 3),
            "seconds_p99": round(float(np.quantile(s, 0.99)), 3), "seconds_max": round(float(s.max()), 3)}


def write_metadata(folder: Path, rows: list[dict]) -> None:
    with open(folder / "metadata.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            out = {k: v for k, v in r.items() if k != "voice"}
            out["voice"] = f"{r['voice'].label} speed {r['voice'].speed} pitch {r['voice'].pitch}"
            f.write(json.dumps(out, ensure_ascii=False) + "\n")


def describe(rows: list[dict], extra: dict) -> dict:
    splits = {}
    for r in rows:
        splits[r["split"]] = splits.get(r["split"], 0) + 1
    voices = {s: sorted({r["voice"].label for r in rows if r["split"] == s}) for s in splits}
    return {"samples": splits, "voices": voices, "speech_engines": {e: speech.engine_version(e)
                                                                    for e in ("espeak-ng", "flite")}, **extra}


def build_fashion(out: Path, small: int | None, workers: int, seed: int, cache: Path, log=print) -> Path:
    rows, images = fashion_rows(small, seed)
    with atomic_dir(out) as tmp:
        for split, x in images.items():
            (tmp / "images" / split).mkdir(parents=True)
            for r in (r for r in rows if r["split"] == split):
                rel = f"images/{split}/{r['index']:05d}.png"
                Image.fromarray(x[r["index"]], mode="L").save(tmp / rel)
                r["image_file_name"] = rel
        stats = attach_speech(rows, tmp, cache, workers, log)
        write_metadata(tmp, rows)
        info = describe(rows, {"dataset": "fashion-mnist", "classes": list(sources.FASHION_CLASSES),
                               "templates": list(sources.FASHION_TEMPLATES), "speech": stats, "seed": seed,
                               "image_size": 28})
        write_text_atomic(tmp / "dataset.json", json.dumps(info, indent=2) + "\n")
    return out


def build_emoji(out: Path, small: int | None, workers: int, seed: int, cache: Path, log=print) -> Path:
    rows = emoji_rows(small, seed)
    painter = sources.EmojiPainter(64)
    with atomic_dir(out) as tmp:
        skipped = []
        for r in rows:
            image = painter.draw(r["emoji"])
            if image is None:
                skipped.append(r["emoji"])
                continue
            rel = f"images/{r['split']}/{r['index']:05d}.png"
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            image.save(tmp / rel)
            r["image_file_name"] = rel
        rows = [r for r in rows if "image_file_name" in r]
        stats = attach_speech(rows, tmp, cache, workers, log)
        write_metadata(tmp, rows)
        info = describe(rows, {"dataset": "emoji", "not_drawn": skipped, "speech": stats, "seed": seed,
                               "image_size": 64})
        write_text_atomic(tmp / "dataset.json", json.dumps(info, indent=2) + "\n")
    return out


BUILDERS = {"fashion-mnist": build_fashion, "emoji": build_emoji}


def build(out: str | Path, datasets=DATASETS, small: int | None = None, workers: int = 2, seed: int = 0,
          cache: str | Path | None = None, log=print) -> dict[str, Path]:
    """Build ``datasets`` under ``out``; an existing one is kept as it is."""
    cache = Path(cache) if cache else speech.default_cache()
    built = {}
    for name in datasets:
        folder = Path(out) / name
        if (folder / "metadata.jsonl").is_file():
            log(f"{folder}: already built (delete it to build again)")
        else:
            t0 = time.perf_counter()
            log(f"building {folder}")
            BUILDERS[name](folder, small, workers, seed, cache, log)
            log(f"  {folder} in {time.perf_counter() - t0:.0f} s")
        built[name] = folder
    return built


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="data/realdata", help="folder receiving one folder per dataset")
    p.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated: fashion-mnist, emoji")
    p.add_argument("--small", type=int, default=None, help="at most N samples per split (tests)")
    p.add_argument("--workers", type=int, default=2, help="speech processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default=None, help="speech cache (default: ~/.cache/synesthesia/realdata/speech)")
    a = p.parse_args(argv)
    names = [d.strip() for d in a.datasets.split(",") if d.strip()]
    unknown = [d for d in names if d not in BUILDERS]
    if unknown:
        p.error(f"unknown dataset(s) {unknown}; choose from {', '.join(DATASETS)}")
    try:
        build(a.out, names, a.small, a.workers, a.seed, a.cache)
    except (sources.MissingPackage, speech.SpeechError) as e:
        print(f"build.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
