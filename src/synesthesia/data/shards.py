"""Decoding shards of samples, in this process or a pool of worker processes, each shard
written under a temporary name and renamed when complete (a finished shard is a folder whose
name has no dot)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from synesthesia.data.decode import Decoder, Encoded
from synesthesia.data.errors import TooManyRejected
from synesthesia.data.readers.safety import MEDIA_LIMIT
from synesthesia.data.rejected import check_limit
from synesthesia.modalities import build_modality

DONE_FILE = "done.json"
_WORKER: dict = {}

def write_shard(folder: Path, enc: Encoded, planned: int) -> dict:
    """Write one shard's columns, then rename its temporary folder to ``folder``."""
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for m, array in enc.arrays.items():
        np.save(tmp / f"{m}.npy", array)
        np.save(tmp / f"{m}_present.npy", enc.present[m])
    np.save(tmp / "text_count.npy", enc.text_count)
    lines = [json.dumps({"key": k, "captions": c}, ensure_ascii=False) for k, c in zip(enc.keys, enc.captions)]
    (tmp / "samples.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    summary = {"n": len(enc), "planned": planned, "rejected": enc.rejected, "dropped": enc.dropped,
               "adjustments": enc.adjustments}
    (tmp / DONE_FILE).write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, folder)
    return summary

def _init_worker(configs: Mapping[str, dict], assets: str, max_captions: int, max_media: int) -> None:

    torch.set_num_threads(1)
    mods = {}
    for name, cfg in configs.items():
        mods[name] = build_modality(name, **cfg)
        mods[name].load_assets(Path(assets))
    _WORKER["decoder"] = Decoder(mods, max_captions, max_media)

def _decode_shard(folder: Path, samples: list) -> dict:
    return write_shard(folder, _WORKER["decoder"].run(samples), len(samples))

def _remove_stale(tasks: Sequence[tuple[Path, list]]) -> None:
    """Half-written shards of an interrupted run: their temporary folders are removed."""
    for parent in {folder.parent for folder, _ in tasks}:
        if parent.is_dir():
            for stale in parent.glob(".*.tmp-*"):
                shutil.rmtree(stale, ignore_errors=True)

def run_shards(tasks: Sequence[tuple[Path, list]], modalities: Mapping, assets: Path, max_captions: int,
               max_media: int | None, workers: int, progress: bool, plan_total: int,
               max_rejected: float, where: str = "") -> list[dict]:
    """Decode every shard not already done; return each shard's summary (in task order). Stops
    early when the rejections so far already exceed ``max_rejected`` of ``plan_total``."""

    _remove_stale(tasks)
    results: dict[int, dict] = {}
    for i, (folder, _) in enumerate(tasks):
        if (folder / DONE_FILE).is_file():
            results[i] = json.loads((folder / DONE_FILE).read_text(encoding="utf-8"))
    todo = [i for i in range(len(tasks)) if i not in results]
    bar = tqdm(total=sum(len(s) for _, s in tasks), initial=sum(len(tasks[i][1]) for i in results),
               unit="sample", desc="prepare", disable=not progress, dynamic_ncols=True)
    configs = {n: m.config() for n, m in modalities.items()}
    args = (configs, str(assets), max_captions, max_media or MEDIA_LIMIT)
    rejected: list[dict] = [e for r in results.values() for e in r["rejected"]]

    def account(i: int, summary: dict) -> None:
        results[i] = summary
        rejected.extend(summary["rejected"])
        bar.update(len(tasks[i][1]))
        if len(rejected) > max_rejected * plan_total:
            check_limit(rejected, plan_total, max_rejected, f"{where} (stopped early)")

    try:
        if workers <= 1 or len(todo) <= 1:

            threads = torch.get_num_threads()
            try:
                _init_worker(*args)
                for i in todo:
                    account(i, _decode_shard(*tasks[i]))
            finally:
                torch.set_num_threads(threads)
        else:
            _pool(tasks, todo, args, workers, account)
    finally:
        bar.close()
    return [results[i] for i in range(len(tasks))]

def _pool(tasks, todo, args, workers: int, account) -> None:

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                             initializer=_init_worker, initargs=args) as pool:
        pending = {pool.submit(_decode_shard, *tasks[i]): i for i in todo[: 2 * workers]}
        queue = list(todo[2 * workers:])
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    i = pending.pop(future)
                    account(i, future.result())
                    if queue:
                        j = queue.pop(0)
                        pending[pool.submit(_decode_shard, *tasks[j])] = j
        except (TooManyRejected, KeyboardInterrupt):
            for future in pending:
                future.cancel()
            raise
