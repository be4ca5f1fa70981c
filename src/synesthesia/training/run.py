"""``train(config, out)``: data -> modalities -> model -> Lightning Trainer -> run folder."""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from synesthesia.config import ConfigError, RunConfig
from synesthesia.data.sources import WorldSource
from synesthesia.data.user_source import open_data
from synesthesia.io import atomic_path
from synesthesia.limits import set_limits
from synesthesia.modalities import build_modality
from synesthesia.models.registry import build_model
from synesthesia.runs import load_modalities, save_modalities, save_weights, write_metrics
from synesthesia.training.callbacks import CosineSchedule, SampleGrid, Throughput
from synesthesia.training.checkpoint_io import SafetensorsCheckpointIO
from synesthesia.training.module import TensorDataModule, lightning_module


def resolve_modalities(config: RunConfig, source) -> dict:
    """Build the modalities for ``source``, filling sizes from the data and training the text
    tokenizer on the training captions."""
    names = config.data.modalities or list(source.modalities)
    unknown = [m for m in names if m not in source.modalities]
    if unknown:
        raise ConfigError(f"data.modalities names {unknown}, but the data has only {list(source.modalities)}")
    if hasattr(source, "resolve_modalities"):          # users' data: sizes and tokenizer from the data
        return source.resolve_modalities(names, config.modalities)
    built = {}
    for name in names:
        cfg = dict(config.modalities.get(name) or {})
        if isinstance(source, WorldSource):
            w = source.config
            if name == "image":
                cfg.setdefault("size", w.image_size)
            elif name == "video":
                cfg.setdefault("size", w.video_size)
                cfg.setdefault("frames", w.video_frames)
            elif name == "audio":
                cfg.setdefault("sample_rate", w.sample_rate)
                cfg.setdefault("seconds", w.audio_seconds)
        if name == "text":
            captions = source.captions("train", config.data.n_train)
            extra: list[str] = []
            # the world's closed vocabulary keeps whole words; users' captions get subwords
            cfg.setdefault("tokenizer", "word" if isinstance(source, WorldSource) else "bpe")
            if isinstance(source, WorldSource):
                from synesthesia.world.captions import caption_vocabulary

                extra = caption_vocabulary()
            from synesthesia.modalities.text import TextModality

            built[name] = TextModality.from_captions(captions, extra_words=extra, **cfg)
            continue
        built[name] = build_modality(name, **cfg)
    return built


def _trainer(config: RunConfig, out: Path, enable_progress: bool) -> L.Trainer:
    t = config.train
    every = max(1, t.checkpoint_every)
    ckpt = ModelCheckpoint(dirpath=out / "checkpoints", filename="step-{step}", every_n_train_steps=every,
                           save_last=True, save_top_k=2, monitor="step", mode="max",
                           enable_version_counter=False)     # a resumed run keeps writing last.ckpt
    callbacks = [ckpt, Throughput()]
    if t.schedule == "cosine":
        callbacks.append(CosineSchedule(t.warmup_steps, restart=t.resume_lr_factor))
    if t.samples_every_epoch:
        callbacks.append(SampleGrid(out / "samples"))
    return L.Trainer(
        default_root_dir=out, accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes,
        strategy=t.strategy, precision=t.precision, max_epochs=t.max_epochs, max_steps=t.max_steps,
        max_time={"minutes": t.max_minutes} if t.max_minutes else None,
        gradient_clip_val=t.gradient_clip, log_every_n_steps=t.log_every,
        logger=[TensorBoardLogger(out / "logs", name="", version="tb"),
                CSVLogger(out / "logs", name="", version="csv")],
        callbacks=callbacks, plugins=[SafetensorsCheckpointIO()], enable_progress_bar=enable_progress,
        enable_model_summary=False, num_sanity_val_steps=0, detect_anomaly=False,
    )


def train(config: RunConfig, out: str | Path, resume: bool = False, progress: bool = True) -> Path:
    """Train ``config`` into the run folder ``out``; with ``resume`` continue from its last
    checkpoint (same data, modalities and tokenizer)."""
    out = Path(out)
    set_limits(config.limits)
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    L.seed_everything(config.train.seed, workers=True, verbose=False)
    last = out / "checkpoints" / "last.ckpt"
    config.data.absolute()
    if resume:
        if not last.is_file():
            raise ConfigError(f"--resume: {last} does not exist; train without --resume first")
        saved = RunConfig.from_yaml(out / "config.yaml")
        config.modalities = saved.modalities
        modalities = load_modalities(config, out)
    else:
        if (out / "model.safetensors").exists() or last.exists():
            raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or choose "
                                  "another --out")
    source = open_data(config.data, out if _is_rank_zero() else None)
    if not resume:
        modalities = resolve_modalities(config, source)
        out.mkdir(parents=True, exist_ok=True)
        config.modalities = save_modalities(modalities, out)
    if _is_rank_zero():
        config.to_yaml(out / "config.yaml")
    train_set = source.dataset("train", config.data.n_train, modalities, config.data.missing_p)
    has_val = config.data.n_val and getattr(source, "size", lambda s: None)("val") != 0
    val_set = source.dataset("val", config.data.n_val, modalities) if has_val else None
    model = build_model(config.family, modalities, config.model)
    module = lightning_module(model, config.train)
    data = TensorDataModule(train_set, val_set, config.train.batch_size, config.train.num_workers)
    if resume and _is_rank_zero():
        _set_aside_csv_log(out)
    trainer = _trainer(config, out, progress)
    t0 = time.perf_counter()
    trainer.fit(module, datamodule=data, ckpt_path=str(last) if resume else None)
    seconds = time.perf_counter() - t0
    # checkpoints are written every train.checkpoint_every steps; a run stopped by its time or
    # step budget also leaves its final state (optimiser and loops too), so --resume goes on from there
    trainer.save_checkpoint(last, weights_only=False)
    if trainer.is_global_zero:
        _join_csv_logs(out)
        save_weights(model, out / "model.safetensors")
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        metrics.update({"global_step": trainer.global_step, "epochs": trainer.current_epoch,
                        "train_seconds": round(seconds, 2), "parameters": sum(p.numel() for p in model.parameters()),
                        "n_train": len(train_set), "world_size": trainer.world_size})
        if getattr(source, "summaries", None):
            metrics["data"] = source.summaries
        write_metrics(out, {"training": metrics})
    return out


def _set_aside_csv_log(out: Path) -> None:
    """Lightning's CSV logger deletes an existing metrics.csv; keep it as metrics.part-<k>.csv
    until :func:`_join_csv_logs` puts it back in front of the resumed run's rows."""
    log = out / "logs" / "csv" / "metrics.csv"
    if log.is_file():
        k = len(list(log.parent.glob("metrics.part-*.csv")))
        log.rename(log.with_name(f"metrics.part-{k}.csv"))


def _join_csv_logs(out: Path) -> None:
    """metrics.csv = the rows of every earlier leg of a resumed run, then its own (the union
    of their columns), written atomically; the parts are removed afterwards."""
    folder = out / "logs" / "csv"
    parts = sorted(folder.glob("metrics.part-*.csv"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    if not parts:
        return
    rows: list[dict] = []
    columns: list[str] = []
    for path in [*parts, folder / "metrics.csv"]:
        if path.is_file():
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                columns += [c for c in reader.fieldnames or [] if c not in columns]
                rows += list(reader)
    with atomic_path(folder / "metrics.csv") as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    for path in parts:
        path.unlink()


def _is_rank_zero() -> bool:
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0
