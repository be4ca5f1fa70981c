"""``prepare``: decode a dataset once into memory-mappable shards that training reads without
loading them.

Layout of a prepared folder::

    OUT/prepared.json                    source (path, layout, fingerprint), settings, modalities,
                                         splits and their shards, counts of kept/rejected samples
    OUT/assets/                          modality assets (the text tokenizer)
    OUT/rejected.jsonl                   every skipped sample or caption with its path and reason
    OUT/<split>/<shard>/<m>.npy          image/video uint8 (n, [T,] 3, S, S); audio float16 log-mel
                                         (n, mels, frames); text int32 ids (n, K, L)
    OUT/<split>/<shard>/<m>_present.npy  bool (n,); text_count.npy uint8 (n,) captions per sample
    OUT/<split>/<shard>/samples.jsonl    key and raw captions of each sample (evaluation references)

Sound is stored as the spectrogram the audio modality trains on, not as int16 samples: at the
default settings it is 4 times smaller than 16-kHz int16, and a batch needs no STFT in the
loader. The price is that the mel settings are fixed at preparation (a run that asks for others
is refused with the values to use).

The work happens in ``.OUT.prepare`` beside OUT, renamed to OUT when complete. Each shard is
written under a temporary name and renamed, and decoded from a fixed list of samples, so a
killed run resumed with the same source and settings keeps its finished shards, removes the
half-written ones and ends with shards byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from synesthesia.data.errors import DataError
from synesthesia.data.plan import Plan, make_plan
from synesthesia.data.prepared import PREPARED_FILE, PREPARED_FORMAT, PREPARED_VERSION
from synesthesia.data.readers import ReaderOptions
from synesthesia.data.rejected import REJECTED_FILE, check_limit, write_rejected
from synesthesia.data.shards import run_shards
from synesthesia.data.user_source import build_modalities, max_captions
from synesthesia.io import write_text_atomic
from synesthesia.modalities import build_modality

STATE_FILE = "state.json"
# preparation defaults (what --image-size and --sample-rate default to), under the caller's settings
DEFAULTS = {"image": {"size": 64}, "audio": {"sample_rate": 16000}}
SPLIT_ORDER = ("train", "val", "test")

def work_folder(out: Path) -> Path:
    return out.parent / f".{out.name}.prepare"

def _settings(plan: Plan, configs: Mapping[str, dict], shard_size: int) -> dict:
    return {"modalities": {m: dict(configs.get(m) or {}) for m in plan.modalities},
            "shard_size": shard_size, "max_captions": max_captions(plan), "version": PREPARED_VERSION}

def _claim(work: Path, state: dict, log: Callable[[str], None]) -> bool:
    """Make ``work`` ours for ``state``: reuse a stale one with the same state (True), remove a
    stale one with another (an interrupted prepare of other data or settings)."""
    if work.exists():
        old = work / STATE_FILE
        if old.is_file():
            saved = json.loads(old.read_text())
            if saved.get("format") == PREPARED_FORMAT and saved.get("state") == state:
                done = sum(1 for _ in work.glob("*/[0-9]*"))
                log(f"resuming an interrupted prepare in {work} ({done} shard(s) already done)")
                return True
            if saved.get("format") != PREPARED_FORMAT:
                raise DataError(f"{work} exists and was not written by 'synesthesia data prepare'; move it away")
            log(f"removing {work}: an interrupted prepare of other data or settings")
        elif any(p.name != ".lock" for p in work.iterdir()):
            raise DataError(f"{work} exists and was not written by 'synesthesia data prepare'; move it away")
        shutil.rmtree(work)
    work.mkdir(parents=True)
    write_text_atomic(work / STATE_FILE, json.dumps({"format": PREPARED_FORMAT, "state": state}, indent=1))
    return False

def _lock(work: Path):

    handle = open(work / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise DataError(f"another 'synesthesia data prepare' is writing {work}; wait for it to finish") from None
    return handle

def prepare(source: str | Path, out: str | Path, *, format: str | None = None,
            options: ReaderOptions | None = None, modalities: Mapping[str, dict] | None = None,
            names: list[str] | None = None, shard_size: int = 1024, workers: int = 1,
            max_rejected: float = 0.01, progress: bool = True,
            log: Callable[[str], None] = print) -> Path:
    """Decode ``source`` (any readable layout) into the prepared folder ``out``; see the module
    docstring. ``modalities`` gives per-modality settings (e.g. ``{"image": {"size": 64}}``),
    ``names`` a subset of the source's modalities."""
    out = Path(out)
    if (out / PREPARED_FILE).is_file():
        raise FileExistsError(f"{out} already holds prepared data; choose another --out")
    if out.exists():
        raise FileExistsError(f"{out} exists; --out must name a new folder")
    plan = make_plan(source, format, options)
    if names:
        unknown = [m for m in names if m not in plan.modalities]
        if unknown:
            raise DataError(f"{source} has no {unknown}; it has {list(plan.modalities)}")
        plan.samples = [s for s in plan.samples if any(m in s.media or (m == "text" and s.captions) for m in names)]
    wanted = [m for m in plan.modalities if not names or m in names]
    configs = {m: {**DEFAULTS.get(m, {}), **((modalities or {}).get(m) or {})} for m in wanted}
    state = {"fingerprint": plan.fingerprint, "settings": _settings(plan, configs, shard_size), "names": wanted}
    work = work_folder(out)
    work.parent.mkdir(parents=True, exist_ok=True)
    resumed = _claim(work, state, log)
    lock = _lock(work)
    try:
        mods = _modalities(plan, wanted, configs, work, resumed)
        tasks = _tasks(plan, work, shard_size)
        results = run_shards(tasks, mods, work / "assets", state["settings"]["max_captions"],
                             options.max_media_bytes if options else None, workers, progress,
                             plan_total=len(plan.samples), max_rejected=max_rejected, where=str(plan.path))
        _finish(plan, work, out, mods, state, tasks, results, max_rejected)
    finally:
        lock.close()
    os.replace(work, out)
    return out

def _modalities(plan: Plan, names, configs, work: Path, resumed: bool) -> dict:
    """Build the modalities; a resumed run reloads the saved tokenizer instead of training one."""

    saved = work / "assets" / "modalities.json"
    if resumed and saved.is_file():
        built = {}
        for name, cfg in json.loads(saved.read_text()).items():
            built[name] = build_modality(name, **cfg)
            built[name].load_assets(work / "assets")
        return built
    built = build_modalities(plan, names, configs)
    (work / "assets").mkdir(exist_ok=True)
    for m in built.values():
        m.save_assets(work / "assets")
    write_text_atomic(saved, json.dumps({n: m.config() for n, m in built.items()}, indent=1))
    return built

def _tasks(plan: Plan, work: Path, shard_size: int) -> list[tuple[Path, list]]:
    tasks = []
    for split in [s for s in SPLIT_ORDER if plan.split(s)]:
        samples = plan.split(split)
        for k, lo in enumerate(range(0, len(samples), shard_size)):
            tasks.append((work / split / f"{k:05d}", samples[lo:lo + shard_size]))
    return tasks

def _finish(plan: Plan, work: Path, out: Path, mods: dict, state: dict, tasks, results, max_rejected) -> None:
    rejected = [e for r in results for e in r["rejected"]]
    dropped = [e for r in results for e in r["dropped"]]
    written = write_rejected(work / REJECTED_FILE, rejected + dropped)
    check_limit(rejected, len(plan.samples), max_rejected, str(plan.path), written)
    splits: dict = {}
    for (folder, samples), r in zip(tasks, results):
        split = folder.parent.name
        info = splits.setdefault(split, {"n": 0, "shards": []})
        info["shards"].append({"path": f"{split}/{folder.name}", "n": r["n"], "samples": len(samples)})
        info["n"] += r["n"]
    adjustments: dict = {}
    for r in results:
        for k, v in r["adjustments"].items():
            adjustments[k] = adjustments.get(k, 0) + v
    manifest = {
        "format": PREPARED_FORMAT, "version": PREPARED_VERSION,
        "source": {"path": str(Path(plan.path).resolve()), "format": plan.format, "fingerprint": plan.fingerprint},
        "settings": state["settings"], "modalities": {n: m.config() for n, m in mods.items()},
        "splits": splits,
        "counts": {"samples": len(plan.samples), "kept": sum(r["n"] for r in results),
                   "rejected": len(rejected), "captions_dropped": len(dropped)},
        "adjustments": dict(sorted(adjustments.items(), key=lambda kv: -kv[1])[:20]),
        "notes": plan.notes[:50],
    }
    write_text_atomic(work / PREPARED_FILE, json.dumps(manifest, indent=1))
    (work / STATE_FILE).unlink()
    (work / ".lock").unlink(missing_ok=True)
    (work / "assets" / "modalities.json").unlink(missing_ok=True)
