"""``train(config, out)``: data -> modalities -> model -> Lightning Trainer -> run folder.

A new run needs a new or empty ``out``; ``resume=True`` continues the run in ``out`` from its last
checkpoint, after checking everything it needs (config, modalities, model, checkpoint) and before
changing any file of the run.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import time
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError

from synesthesia.checkpoint import Interrupted, StopSignals
from synesthesia.config import ConfigError
from synesthesia.data.sources import WorldSource
from synesthesia.data.user_source import open_data
from synesthesia.errors import OutputError
from synesthesia.io import atomic_path, protected_kind, refuse_protected, remove_stale
from synesthesia.limits import set_limits
from synesthesia.modalities import build_modality
from synesthesia.modalities.text import TextModality
from synesthesia.runs import (
    RunConfig,
    build_model,
    load_modalities,
    read_metrics,
    save_modalities,
    save_weights,
    write_metrics,
)
from synesthesia.runs.folder import CONFIG
from synesthesia.training.precision import resolve_precision
from synesthesia.world.captions import caption_vocabulary


def resolve_modalities(config: RunConfig, source) -> dict:
    """Build the modalities for ``source``: options left unset (null) come from the data (sizes,
    rates, frames), and the text tokenizer is trained on the training captions."""
    names = config.data.modalities or list(source.modalities)
    unknown = [m for m in names if m not in source.modalities]
    if unknown:
        raise ConfigError(f"data.modalities names {unknown}, but the data has only {list(source.modalities)}")
    extra = [m for m in config.modalities if m not in names]
    if extra and config.data.modalities:   # options for a modality the data lacks serve another dataset
        raise ConfigError(f"modalities.{extra[0]} is set, but the run trains on {names} (data.modalities); "
                          "drop it or add the modality to data.modalities")
    if hasattr(source, "resolve_modalities"):          # users' data: sizes and tokenizer from the data
        return source.resolve_modalities(names, {n: config.modality_options(n) for n in names})
    built = {}
    for name in names:
        cfg = config.modality_options(name)
        if isinstance(source, WorldSource):
            w = source.config
            found = {"image": {"size": w.image_size}, "video": {"size": w.video_size, "frames": w.video_frames},
                     "audio": {"sample_rate": w.sample_rate, "seconds": w.audio_seconds}}.get(name, {})
            cfg = {**found, **cfg}
        if name == "text":
            captions = source.captions("train", config.data.n_train)
            extra_words: list[str] = []
            # the world's closed vocabulary keeps whole words; users' captions get subwords
            cfg.setdefault("tokenizer", "word" if isinstance(source, WorldSource) else "bpe")
            if isinstance(source, WorldSource):

                extra_words = caption_vocabulary()

            built[name] = TextModality.from_captions(captions, extra_words=extra_words, **cfg)
            continue
        built[name] = build_modality(name, **cfg)
    return built

# Lightning's start-up lines (accelerator summary, tips and advertisements) and the notices about
# folders a resumed run keeps on purpose are not the user's business
_QUIET_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                  "lightning.fabric.utilities.rank_zero")
_QUIET_WARNINGS = (".*LeafSpec.*is deprecated.*", "Experiment logs directory .* exists and is not empty.*",
                   "Checkpoint directory .* exists and is not empty.*",
                   "The dirpath has changed from .*", ".*does not have many workers.*",
                   ".*smaller than the logging interval.*")


def _quiet_lightning() -> None:
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


def _trainer(config: RunConfig, out: Path, enable_progress: bool, extra: list):
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from synesthesia.training.callbacks import CosineSchedule, SampleGrid, StepProgress, Throughput
    from synesthesia.training.checkpoint_io import SafetensorsCheckpointIO
    from synesthesia.training.resume import StepRandomness

    _quiet_lightning()
    t = config.train
    every = max(1, t.checkpoint_every)
    ckpt = ModelCheckpoint(dirpath=out / "checkpoints", filename="step-{step}", every_n_train_steps=every,
                           save_last=True, save_top_k=2, monitor="step", mode="max",
                           enable_version_counter=False)     # a resumed run keeps writing last.ckpt
    callbacks = [ckpt, Throughput(), StepRandomness(t.seed), *extra]
    if t.schedule == "cosine":
        callbacks.append(CosineSchedule(t.warmup_steps, restart=t.resume_lr_factor))
    if t.samples_every_epoch:
        callbacks.append(SampleGrid(out / "samples"))
    if enable_progress:
        callbacks.append(StepProgress())
    return L.Trainer(
        default_root_dir=out, accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes,
        strategy=t.strategy, precision=resolve_precision(t.precision, t.accelerator), max_epochs=t.max_epochs, max_steps=t.max_steps,
        max_time={"minutes": t.max_minutes} if t.max_minutes else None,
        gradient_clip_val=t.gradient_clip, log_every_n_steps=t.log_every,
        logger=[TensorBoardLogger(out / "logs", name="", version="tb"),
                # every logged row reaches the file at once, so a checkpoint never runs ahead of the log
                CSVLogger(out / "logs", name="", version="csv", flush_logs_every_n_steps=1)],
        callbacks=callbacks, plugins=[SafetensorsCheckpointIO()], enable_progress_bar=enable_progress,
        enable_model_summary=False, num_sanity_val_steps=0, detect_anomaly=False,
    )

def _check_new_run(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder for the run")
    if protected_kind(out) == "a run":
        raise OutputError(f"{out} already holds a run; pass --resume to continue it, or choose another --out")
    refuse_protected(out, "replace")
    if out.is_dir() and any(p for p in out.iterdir() if not p.name.startswith(".")):
        raise OutputError(f"{out} is not empty; choose another --out (a new run needs a new or empty folder), "
                          f"or pass --resume to continue a run there")

def _never_checkpointed(out: Path) -> bool:
    """``out`` holds a run that was started and stopped before it wrote any checkpoint or weights:
    resuming it is starting it again (from the same seed, the same run)."""
    started = (out / CONFIG).is_file() and not (out / "model.safetensors").exists()
    if started and not list((out / "checkpoints").glob("*.ckpt")):
        logging.getLogger(__name__).warning(f"{out} has no checkpoint yet: the run starts again from step 0")
        return True
    return False


def _check_resume(config: RunConfig, out: Path):
    """Everything a resume needs, checked before any file changes: the saved config and
    modalities, a model that fits them, and a readable last checkpoint holding that model."""

    from synesthesia.training.checkpoint_io import load_nested

    last = out / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise ConfigError(f"--resume: {last} does not exist; train without --resume first")
    saved = RunConfig.from_yaml(out / CONFIG)
    read_metrics(out)                                 # a damaged metrics.json is refused now, not after training
    config.modalities = saved.modalities
    modalities = load_modalities(config, out)
    model = build_model(config, modalities)
    try:
        state = load_nested(last)["state_dict"]
    except (KeyError, ValueError, OSError, SafetensorError) as err:
        raise ConfigError(f"--resume: {last} is not a readable checkpoint ({str(err)[:120]}); resume from an "
                          f"earlier one in {last.parent} by copying it to last.ckpt") from None
    own = {f"model.{k}": v for k, v in model.state_dict().items()}
    wrong = sorted(k for k, v in own.items() if k not in state or tuple(state[k].shape) != tuple(v.shape))
    if wrong:
        raise ConfigError(f"--resume: {last} does not hold the model this config builds ({wrong[:3]} missing or "
                          f"of another shape); resume with the run's own config ({out / CONFIG})")
    return modalities

def train(config: RunConfig, out: str | Path, resume: bool = False, progress: bool = True,
          callbacks: list | None = None) -> Path:
    """Train ``config`` into the run folder ``out``; with ``resume`` continue from its last
    checkpoint (same data, modalities and tokenizer) exactly where it stopped. ``callbacks`` are
    further Lightning callbacks.

    SIGTERM or SIGINT stops after the current step: the checkpoint, weights and metrics are saved,
    then :class:`~synesthesia.checkpoint.Interrupted` is raised (``--resume`` goes on from there)."""
    import lightning as L

    from synesthesia.training.module import TensorDataModule, lightning_module
    from synesthesia.training.resume import GracefulStop

    out = Path(out)
    set_limits(config.limits)
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    L.seed_everything(config.train.seed, workers=True, verbose=False)
    config.data.absolute()
    source = open_data(config.data, out if _is_rank_zero() else None)
    again = resume and _never_checkpointed(out)       # killed before its first checkpoint: start again
    resume = resume and not again
    if resume:
        modalities = _check_resume(config, out)
    else:
        if _is_rank_zero() and not again:         # other ranks start once rank 0 has begun the run
            _check_new_run(out)
        modalities = resolve_modalities(config, source)
    train_set = source.dataset("train", config.data.n_train, modalities, config.data.missing_p)
    has_val = config.data.n_val and getattr(source, "size", lambda split: None)("val") != 0
    val_set = source.dataset("val", config.data.n_val, modalities) if has_val else None
    model = build_model(config, modalities)
    if _is_rank_zero():
        out.mkdir(parents=True, exist_ok=True)
        remove_stale(out / CONFIG)
        if not resume:
            config.set_modalities(save_modalities(modalities, out))
        config.to_yaml(out / CONFIG)
        if resume or again:
            _set_aside_csv_log(out)
    module = lightning_module(model, config.train)
    data = TensorDataModule(train_set, val_set, config.train.batch_size, config.train.num_workers,
                            config.train.seed)
    last = out / "checkpoints" / "last.ckpt"
    with StopSignals() as signals:
        stop = GracefulStop(signals, last)
        trainer = _trainer(config, out, progress, [stop, *(callbacks or [])])
        t0 = time.perf_counter()
        trainer.fit(module, datamodule=data, ckpt_path=str(last) if resume else None)
        seconds = time.perf_counter() - t0
        # checkpoints are written every train.checkpoint_every steps; a run stopped by its budget or a
        # signal also leaves its final state (optimiser, loops, data order), so --resume goes on from there
        if stop.saved_at != trainer.global_step:
            trainer.save_checkpoint(last, weights_only=False)
    if trainer.is_global_zero:
        _finish(trainer, out, model, seconds, len(train_set), source, stop.stopped)
    if stop.stopped:
        raise Interrupted(stop.stopped, trainer.global_step, last)
    return out


def _finish(trainer, out: Path, model, seconds: float, n_train: int, source, stopped: str | None) -> None:
    """The run folder's log, weights and metrics once training has ended (rank zero)."""
    _join_csv_logs(out)
    save_weights(model, out / "model.safetensors")
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    metrics.update({"global_step": trainer.global_step, "epochs": trainer.current_epoch,
                    "train_seconds": round(seconds, 2), "parameters": sum(p.numel() for p in model.parameters()),
                    "n_train": n_train, "world_size": trainer.world_size})
    if getattr(source, "summaries", None):
        metrics["data"] = source.summaries
    if stopped:
        metrics["stopped_by"] = stopped
    write_metrics(out, {"training": metrics})

def _set_aside_csv_log(out: Path) -> None:
    """Lightning's CSV logger deletes an existing metrics.csv; keep it as metrics.part-<k>.csv
    until :func:`_join_csv_logs` puts it back in front of the resumed run's rows."""
    log = out / "logs" / "csv" / "metrics.csv"
    if log.is_file():
        k = len(list(log.parent.glob("metrics.part-*.csv")))
        log.rename(log.with_name(f"metrics.part-{k}.csv"))

def _join_csv_logs(out: Path) -> None:
    """metrics.csv = the rows of every earlier leg of a resumed run, then its own (the union
    of their columns), written atomically; the parts are removed afterwards. A leg's rows at or
    after the first step a later leg logged are dropped (that leg did those steps again, from its
    checkpoint), so each step appears once."""
    folder = out / "logs" / "csv"
    parts = sorted(folder.glob("metrics.part-*.csv"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    if not parts:
        return
    legs: list[list[dict]] = []
    columns: list[str] = []
    for path in [*parts, folder / "metrics.csv"]:
        if path.is_file():
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                columns += [c for c in reader.fieldnames or [] if c not in columns]
                legs.append([row for row in reader if None not in row])     # a row cut short by a kill
    rows: list[dict] = []
    floor = float("inf")
    for leg in reversed(legs):
        rows = [row for row in leg if not _step(row) >= floor] + rows        # rows without a step stay
        floor = min([floor, *(s for s in map(_step, leg) if math.isfinite(s))])
    with atomic_path(folder / "metrics.csv") as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    for path in parts:
        path.unlink()


def _step(row: dict) -> float:
    try:
        return float(row.get("step") or "nan")
    except ValueError:
        return float("nan")


def _is_rank_zero() -> bool:
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0
