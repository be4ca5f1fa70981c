"""Small datasets in the real schema of each layout, written by the tests.

Every image is a flat colour with a shape drawn on it, named by its caption ("a red square"),
so a test can tell samples apart after decoding."""

from __future__ import annotations

import csv
import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 60, 220), "yellow": (230, 210, 40)}
SHAPES = ("square", "circle", "triangle")


def caption(i: int) -> str:
    colours = list(COLOURS)
    return f"a {colours[i % len(colours)]} {SHAPES[(i // len(colours)) % len(SHAPES)]}"


def picture(i: int, size: int = 24) -> Image.Image:
    colours = list(COLOURS)
    img = Image.new("RGB", (size, size), (250 - 4 * (i % 40), 250, 250))
    draw = ImageDraw.Draw(img)
    box = (size // 4, size // 4, 3 * size // 4, 3 * size // 4)
    fill = COLOURS[colours[i % len(colours)]]
    shape = SHAPES[(i // len(colours)) % len(SHAPES)]
    if shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "circle":
        draw.ellipse(box, fill=fill)
    else:
        draw.polygon([(size // 2, size // 4), (size // 4, 3 * size // 4), (3 * size // 4, 3 * size // 4)], fill=fill)
    return img


def image_bytes(i: int, fmt: str = "PNG", size: int = 24) -> bytes:
    buf = io.BytesIO()
    picture(i, size).save(buf, format=fmt)
    return buf.getvalue()


def write_image(path: Path, i: int, size: int = 24) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    path.write_bytes(image_bytes(i, fmt, size))
    return path


def sound(i: int, rate: int = 8000, seconds: float = 0.25) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.4 * np.sin(2 * np.pi * (220 + 40 * (i % 8)) * t)).astype(np.float32)


def write_sound(path: Path, i: int, rate: int = 8000) -> Path:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), sound(i, rate), rate, format=path.suffix.lstrip(".").upper())
    return path


def sound_bytes(i: int, rate: int = 8000) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, sound(i, rate), rate, format="WAV")
    return buf.getvalue()


def write_gif(path: Path, i: int, frames: int = 4, size: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    imgs = [picture(i + k, size) for k in range(frames)]
    imgs[0].save(path, format="GIF", save_all=True, append_images=imgs[1:], duration=100, loop=0)
    return path


def write_mp4(path: Path, i: int, frames: int = 4, size: int = 16) -> Path:
    from synesthesia.modalities.files import write_mp4 as write

    return write(np.stack([np.asarray(picture(i + k, size)) for k in range(frames)]), path, fps=4)


# -- layouts -----------------------------------------------------------------------------------

def coco(root: Path, n: int = 12, n_val: int = 4) -> Path:
    """annotations/captions_{train,val}2017.json + train2017/, val2017/ (two captions per image)."""
    for split, count, offset in (("train", n, 0), ("val", n_val, 1000)):
        images, anns = [], []
        for k in range(count):
            i = offset + k
            name = f"{i:012d}.jpg"
            write_image(root / f"{split}2017" / name, i)
            images.append({"id": i, "file_name": name, "height": 24, "width": 24})
            anns += [{"id": 2 * i, "image_id": i, "caption": caption(i)},
                     {"id": 2 * i + 1, "image_id": i, "caption": caption(i).replace("a ", "one ", 1)}]
        (root / "annotations").mkdir(parents=True, exist_ok=True)
        doc = {"info": {}, "licenses": [], "images": images, "annotations": anns}
        (root / "annotations" / f"captions_{split}2017.json").write_text(json.dumps(doc))
    return root


def karpathy(root: Path, n: int = 16) -> Path:
    """dataset_flickr30k.json + flickr30k-images/ (splits train/restval/val/test)."""
    splits = ["train", "restval", "train", "val", "train", "test", "train", "train"]
    images = []
    for i in range(n):
        name = f"{1000 + i}.jpg"
        write_image(root / "flickr30k-images" / name, i)
        images.append({"filename": name, "imgid": i, "split": splits[i % len(splits)],
                       "sentences": [{"raw": caption(i), "tokens": caption(i).split()},
                                     {"raw": caption(i) + " here", "tokens": []}]})
    (root / "dataset_flickr30k.json").write_text(json.dumps({"images": images, "dataset": "flickr30k"}))
    return root


def flickr_csv(root: Path, n: int = 12) -> Path:
    lines = ["image_name| comment_number| comment"]
    for i in range(n):
        write_image(root / "flickr30k_images" / f"{2000 + i}.jpg", i)
        lines += [f"{2000 + i}.jpg| {k}| {caption(i)} number {k}" for k in range(3)]
    (root / "results.csv").write_text("\n".join(lines) + "\n")
    return root


def flickr_token(root: Path, n: int = 12) -> Path:
    lines = []
    for i in range(n):
        write_image(root / "flickr30k-images" / f"{3000 + i}.jpg", i)
        lines += [f"{3000 + i}.jpg#{k}\t{caption(i)}" for k in range(2)]
    (root / "results_20130124.token").write_text("\n".join(lines) + "\n")
    return root


def hf_imagefolder(root: Path, n: int = 12, fmt: str = "csv", caption_column: str = "text") -> Path:
    """train/ and validation/ each with metadata.<fmt> (file_name, <caption_column>)."""
    for split, count, offset in (("train", n, 0), ("validation", max(2, n // 4), 500)):
        rows = []
        for k in range(count):
            i = offset + k
            write_image(root / split / f"{i:04d}.png", i)
            rows.append({"file_name": f"{i:04d}.png", caption_column: caption(i)})
        write_table(root / split / f"metadata.{fmt}", rows)
    return root


def hf_audiofolder(root: Path, n: int = 12) -> Path:
    """metadata.jsonl at the top naming train/ and test/ files, captions as lists."""
    rows = []
    for i in range(n):
        split = "train" if i < n - 3 else "test"
        write_sound(root / split / f"clip{i:03d}.wav", i)
        rows.append({"file_name": f"{split}/clip{i:03d}.wav", "text": [caption(i), caption(i) + " sound"]})
    write_table(root / "metadata.jsonl", rows)
    return root


def write_table(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".csv":
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def audiocaps(root: Path, n: int = 8) -> Path:
    """train.csv (one caption per clip) and val.csv (two rows per clip), clips <ytid>_<start>.wav."""
    for split, count, per in (("train", n, 1), ("val", 3, 2)):
        rows = []
        for k in range(count):
            i = k + (100 if split == "val" else 0)
            yt = f"yt{i:05d}xyz"
            write_sound(root / "audio" / split / f"{yt}_30.wav", i)
            rows += [{"audiocap_id": 10 * i + j, "youtube_id": yt, "start_time": 30, "caption": caption(i)}
                     for j in range(per)]
        write_table(root / f"{split}.csv", rows)
    return root


def clotho(root: Path, n: int = 8) -> Path:
    for tag, count in (("development", n), ("validation", 3)):
        rows = []
        for k in range(count):
            name = f"{tag} clip {k}.wav"
            write_sound(root / tag / name, k)
            rows.append({"file_name": name, **{f"caption_{j}": f"{caption(k)} take {j}" for j in range(1, 6)}})
        write_table(root / f"clotho_captions_{tag}.csv", rows)
    return root


def msrvtt(root: Path, n: int = 8) -> Path:
    videos, sentences = [], []
    for i in range(n):
        write_mp4(root / "TrainValVideo" / f"video{i}.mp4", i)
        videos.append({"video_id": f"video{i}", "split": "train" if i < n - 2 else "validate", "category": 1})
        sentences += [{"video_id": f"video{i}", "caption": caption(i), "sen_id": 2 * i},
                      {"video_id": f"video{i}", "caption": caption(i) + " moving", "sen_id": 2 * i + 1}]
    (root / "train_val_videodatainfo.json").write_text(json.dumps({"videos": videos, "sentences": sentences}))
    return root


def webdataset(root: Path, n: int = 12, shards: int = 2, audio: bool = False) -> Path:
    """train-00000.tar ... with key.png (+ key.wav) + key.txt or key.json; one val shard."""
    root.mkdir(parents=True, exist_ok=True)
    names = [f"train-{s:05d}.tar" for s in range(shards)] + ["val-00000.tar"]
    per = max(1, n // shards)
    i = 0
    for s, name in enumerate(names):
        with tarfile.open(root / name, "w") as tar:
            for _ in range(per if s < shards else 3):
                members = {f"s{i:05d}.png": image_bytes(i)}
                if audio:
                    members[f"s{i:05d}.wav"] = sound_bytes(i)
                if i % 2:
                    members[f"s{i:05d}.json"] = json.dumps({"caption": caption(i)}).encode()
                else:
                    members[f"s{i:05d}.txt"] = caption(i).encode()
                for member, data in members.items():
                    info = tarfile.TarInfo(member)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                i += 1
    return root


def manifest(root: Path, n: int = 12, captions_field: bool = True) -> Path:
    rows = []
    for i in range(n):
        write_image(root / "image" / f"{i:03d}.png", i)
        row = {"id": f"{i:03d}", "image": f"image/{i:03d}.png"}
        if captions_field:
            row["captions"] = [caption(i), caption(i) + " again"]
        else:
            (root / "text").mkdir(parents=True, exist_ok=True)
            (root / "text" / f"{i:03d}.txt").write_text(caption(i) + "\n")
            row["text"] = f"text/{i:03d}.txt"
        rows.append(row)
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "manifest.jsonl"
