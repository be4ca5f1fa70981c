"""Training reads a prepared folder through a DataLoader with workers, without loading it; under
DDP each rank reads its own part of the split."""

import json
import pickle

import layouts
import lightning as L
import numpy as np
import pytest
import torch

from synesthesia.data.columns import in_memory
from synesthesia.data.prepare import prepare
from synesthesia.data.prepared import PreparedSource
from synesthesia.training.module import TensorDataModule


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = layouts.coco(tmp_path_factory.mktemp("coco") / "coco", n=40)
    return prepare(root, root.parent / "prepared", modalities={"image": {"size": 16}}, shard_size=6,
                   progress=False, log=lambda line: None)


def _fingerprints(images: torch.Tensor) -> list[bytes]:
    return [x.numpy().tobytes() for x in (images * 255).round().to(torch.uint8)]


def test_a_prepared_split_is_read_through_workers_without_loading_it(prepared):
    source = PreparedSource(prepared)
    mods = source.resolve_modalities(["image", "text"], {})
    ds = source.dataset("train", None, mods)
    assert len(pickle.dumps(ds)) < 5000                  # the memory maps travel as paths, not data
    loader = TensorDataModule(ds, None, batch_size=8, num_workers=2).train_dataloader()
    seen = []
    for batch in loader:
        assert batch.data["image"].shape == (8, 3, 16, 16) and batch.data["text"].shape[0] == 8
        seen += _fingerprints(batch.data["image"])
    everything = _fingerprints(ds[list(range(len(ds)))].data["image"])
    assert len(seen) == 40 and sorted(seen) == sorted(everything)        # one epoch: every sample once


def test_training_draws_one_caption_per_sample_and_step_and_keeps_all_for_evaluation(prepared):
    source = PreparedSource(prepared)
    mods = source.resolve_modalities(["image", "text"], {})
    train = source.dataset("train", None, mods)
    torch.manual_seed(0)
    drawn = {tuple(train[[3]].data["text"][0].tolist()) for _ in range(40)}
    ids, count = train.caption_ids([3])
    assert int(count[0]) == 2 and drawn == {tuple(ids[0, 0].tolist()), tuple(ids[0, 1].tolist())}
    val = source.dataset("val", None, mods)
    assert torch.equal(val[[0]].data["text"], val[[0]].data["text"])       # validation: the first caption
    assert val.references([0]) == [["a red circle", "one red circle"]]


def test_prepared_and_in_memory_batches_are_the_same(prepared):
    source = PreparedSource(prepared)
    mods = source.resolve_modalities(["image", "text"], {})
    mapped = source.dataset("train", 25, mods)
    folder = prepared / "train"
    arrays = {m: np.concatenate([np.load(f / f"{m}.npy") for f in sorted(folder.iterdir())])[:25]
              for m in ("image", "text")}
    present = {m: np.ones(25, dtype=bool) for m in arrays}
    memory = in_memory(arrays, present, np.full(25, 2, dtype=np.uint8), [[]] * 25, draw="first")
    idx = [24, 3, 17, 0, 6, 11]
    mapped.draw = "first"
    a, b = mapped[idx], memory[idx]
    assert len(mapped) == 25
    assert all(torch.equal(a.data[m], b.data[m]) for m in ("image", "text"))


def test_two_ranks_read_disjoint_parts_that_cover_the_split(prepared):
    from torch.utils.data import DataLoader, DistributedSampler

    from synesthesia.training.module import _Gather, _Indices

    source = PreparedSource(prepared)
    ds = source.dataset("train", None, source.resolve_modalities(["image", "text"], {}))
    parts = []
    for rank in (0, 1):
        sampler = DistributedSampler(_Indices(len(ds)), num_replicas=2, rank=rank, shuffle=True, seed=0)
        loader = DataLoader(_Indices(len(ds)), batch_size=5, sampler=sampler, collate_fn=_Gather(ds))
        parts.append([f for batch in loader for f in _fingerprints(batch.data["image"])])
    assert len(parts[0]) == len(parts[1]) == 20
    assert not set(parts[0]) & set(parts[1])
    assert sorted(parts[0] + parts[1]) == sorted(_fingerprints(ds[list(range(40))].data["image"]))


class RecordRankSamples(L.Callback):
    """Writes the sample indices the rank's training loader reads in its first epoch."""

    def __init__(self, folder) -> None:
        self.folder = folder

    def on_train_start(self, trainer, pl_module) -> None:
        loader = trainer.train_dataloader
        order = [int(i) for _, _, batch in loader.sampler for i in batch]
        (self.folder / f"rank{trainer.global_rank}.json").write_text(json.dumps(
            {"indices": order, "sampler": type(loader.sampler).__name__}))


@pytest.mark.slow
def test_a_two_process_ddp_run_gives_each_rank_its_own_part(prepared, tmp_path):
    from synesthesia.models.registry import build_model
    from synesthesia.runs.config import TrainConfig
    from synesthesia.training.module import lightning_module

    source = PreparedSource(prepared)
    mods = source.resolve_modalities(["image", "text"], {"image": {"channels": 4, "feature_dim": 8},
                                                         "text": {"feature_dim": 8, "embed": 8, "hidden": 8}})
    train = source.dataset("train", 40, mods)
    module = lightning_module(build_model("joint_vae", mods, {"latent_dim": 4}), TrainConfig(batch_size=5))
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp_spawn", max_steps=2, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, callbacks=[RecordRankSamples(tmp_path)],
                        default_root_dir=tmp_path)
    trainer.fit(module, datamodule=TensorDataModule(train, None, batch_size=5))
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["sampler"] == "StepOrder" for r in ranks)
    a, b = (set(r["indices"]) for r in ranks)
    assert len(a) == len(b) == 20 and not a & b and a | b == set(range(40))
