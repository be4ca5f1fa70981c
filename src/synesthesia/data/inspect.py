"""``inspect``: what a dataset holds, as synesthesia reads it: the layout, splits, counts per
modality, captions per sample, media sizes and rates (from file headers, on a sample of files),
a few examples, and what could not be read."""

from __future__ import annotations

import os
import random
import statistics
import tempfile
from collections import Counter
from pathlib import Path

from PIL import Image

from synesthesia.data.errors import SampleError
from synesthesia.data.plan import Plan
from synesthesia.data.readers.base import Media
from synesthesia.data.readers.safety import check_regular


def _header(modality: str, path: Path) -> dict:
    """Size, mode, rate, channels, duration or frames of one file, from its header."""
    if modality == "image":

        with Image.open(path) as img:
            return {"size": f"{img.size[0]}x{img.size[1]}", "mode": img.mode, "format": img.format}
    if modality == "audio":
        import soundfile as sf

        info = sf.info(str(path))
        return {"rate": info.samplerate, "channels": info.channels, "seconds": round(info.duration, 3),
                "format": info.format}
    if path.suffix.lower() == ".gif":

        with Image.open(path) as img:
            return {"size": f"{img.size[0]}x{img.size[1]}", "frames": getattr(img, "n_frames", 1), "format": "GIF"}
    import imageio_ffmpeg

    frames = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(frames)
    finally:
        frames.close()
    return {"size": "x".join(str(v) for v in meta.get("size", ())), "fps": meta.get("fps"),
            "seconds": meta.get("duration"), "format": path.suffix.lstrip(".")}

def media_header(modality: str, media: Media) -> dict:
    """:func:`_header` of a file or tar member; :class:`SampleError` when it cannot be read."""
    if media.error:
        raise SampleError(media.error, media.name)
    try:
        if not media.member:
            check_regular(media.path, what=f"{modality} file")
            return _header(modality, media.path)
        with open(media.path, "rb") as f:
            f.seek(media.offset)
            data = f.read(media.size)
        fd, tmp = tempfile.mkstemp(suffix=media.suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return _header(modality, Path(tmp))
        finally:
            os.unlink(tmp)
    except SampleError:
        raise
    except Exception as err:
        raise SampleError(f"header unreadable: {type(err).__name__}: {err}", media.name) from None

def _spread(values: list) -> str:
    if not values:
        return "-"
    if all(isinstance(v, (int, float)) for v in values):
        return f"{min(values):g} .. {statistics.median(values):g} .. {max(values):g} (min .. median .. max)"
    common = Counter(values).most_common(4)
    return ", ".join(f"{v} ×{k}" for v, k in common) + (" ..." if len(set(values)) > 4 else "")

def inspect_plan(plan: Plan, sample_files: int = 50, examples: int = 3, seed: int = 0) -> dict:
    """A report (plain data) on ``plan``: headers are read for ``sample_files`` files per modality."""
    report: dict = {"path": str(plan.path), "layout": plan.format, "root": str(plan.root),
                    "splits": plan.splits, "fingerprint": plan.fingerprint, "notes": list(plan.notes)}
    def has(sample, m: str) -> bool:
        return bool(sample.captions) if m == "text" else m in sample.media

    report["modalities"] = {m: {s: sum(1 for x in plan.split(s) if has(x, m)) for s in plan.splits}
                            for m in plan.modalities}
    per = [sum(1 for c in s.captions if isinstance(c, str) and c.strip()) for s in plan.samples]
    words = [len(c.split()) for s in plan.samples for c in s.captions if isinstance(c, str) and c.strip()]
    report["captions"] = {"per_sample": _spread(per), "without": sum(1 for k in per if k == 0),
                          "empty": sum(1 for s in plan.samples for c in s.captions
                                       if not (isinstance(c, str) and c.strip())),
                          "words": _spread(words)}
    problems: list[str] = []
    for s in plan.samples:
        if s.error:
            problems.append(f"{s.origin}: {s.error}")
        for m, media in s.media.items():
            if media.error:
                problems.append(f"{media.name}: {media.error}")
            elif not media.member:
                try:
                    check_regular(media.path, what=f"{m} file")
                except SampleError as err:
                    problems.append(f"{media.name}: {err.reason}")
    report["media"] = _media_report(plan, sample_files, seed, problems)
    report["unreadable"] = {"count": len(problems), "first": problems[:10]}
    rng = random.Random(seed)
    picks = rng.sample(plan.samples, min(examples, len(plan.samples)))
    report["examples"] = [{"key": s.key, "split": s.split, **{m: x.name for m, x in s.media.items()},
                           "captions": s.captions[:3]} for s in picks]
    return report

def _media_report(plan: Plan, sample_files: int, seed: int, problems: list[str]) -> dict:
    rng = random.Random(seed)
    out = {}
    for m in (x for x in plan.modalities if x != "text"):
        refs = [s.media[m] for s in plan.samples if m in s.media and not s.media[m].error]
        picked = rng.sample(refs, min(sample_files, len(refs)))
        headers: list[dict] = []
        for media in picked:
            try:
                headers.append(media_header(m, media))
            except SampleError as err:
                if f"{media.name}: {err.reason}" not in problems:
                    problems.append(f"{media.name}: {err.reason}")
        keys = sorted({k for h in headers for k in h})
        spreads = {k: _spread([h[k] for h in headers if h.get(k) is not None]) for k in keys}
        out[m] = {"files": len(refs), "read": len(headers), **spreads}
    return out

def format_report(report: dict) -> str:
    """The report as text for the terminal."""
    lines = [f"layout: {report['layout']}  ({report['path']})",
             "splits: " + ", ".join(f"{k} {v}" for k, v in report["splits"].items())]
    for m, counts in report["modalities"].items():
        lines.append(f"{m:6s} samples: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    c = report["captions"]
    lines.append(f"captions per sample: {c['per_sample']}; samples without: {c['without']}; empty captions: "
                 f"{c['empty']}; words per caption: {c['words']}")
    for m, info in report["media"].items():
        lines.append(f"{m} files: {info['files']} (headers read on {info['read']})")
        lines += [f"  {k}: {v}" for k, v in info.items() if k not in ("files", "read")]
    lines.append("examples:")
    for e in report["examples"]:
        lines.append("  " + "  ".join(f"{k}={v}" for k, v in e.items()))
    u = report["unreadable"]
    lines.append(f"could not read: {u['count']}")
    lines += [f"  {p}" for p in u["first"]]
    lines += [f"note: {n}" for n in report["notes"]]
    return "\n".join(lines)
