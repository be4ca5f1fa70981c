"""Every family's text networks on byte-level BPE text, at tiny sizes: a training step that moves
the loss, generation, and decoding back to strings; a run trained on users' files picks BPE."""

import numpy as np
import pytest
import torch
from tests.conftest import TINY_MODALITIES, TINY_WORLD

from synesthesia.data.sources import WorldSource
from synesthesia.modalities import build_modality
from synesthesia.modalities.text import EOS, TextModality
from synesthesia.models.gan import ConditionalGAN, GANConfig
from synesthesia.models.gan.conditions import condition_fits
from synesthesia.models.joint_vae import JointVAE, JointVAEConfig
from synesthesia.models.transformer import (
    AutoregressiveConfig,
    AutoregressiveGenerator,
    Captioner,
    CaptionerConfig,
)
from synesthesia.models.transformer.expander import CaptionExpander, ExpanderConfig
from synesthesia.training.adversarial import plain_update
from synesthesia.training.expander import train_expander


@pytest.fixture(scope="module")
def bpe_modalities(tiny_world):
    captions = tiny_world.render("train", np.arange(256), ["text"])["text"]
    mods = {m: build_modality(m, **cfg) for m, cfg in TINY_MODALITIES.items() if m != "text"}
    mods["text"] = TextModality.from_captions(captions, tokenizer="bpe", vocab_size=400, **TINY_MODALITIES["text"])
    return mods


@pytest.fixture(scope="module")
def bpe_data(tiny_world, bpe_modalities):
    return WorldSource(tiny_world.config).dataset("train", 64, bpe_modalities)


def _steps(model, batch, steps=8, lr=3e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        out = model(batch.data, batch.masks)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    return losses


def _strings(text, ids):
    out = text.decode(ids)
    assert all(isinstance(s, str) for s in out) and ((ids == EOS).sum(1) <= 1).all()
    return out


def test_bpe_text_is_subwords(bpe_modalities):
    text = bpe_modalities["text"]
    assert text.kind == "bpe" and text.vocab_size > 256
    ids = text.encode(["a purple giraffe"])                        # no such words in the world
    assert text.decode(ids) == ["a purple giraffe"]


def test_joint_vae_on_bpe_text(bpe_modalities, bpe_data):
    torch.manual_seed(0)
    model = JointVAE(bpe_modalities, JointVAEConfig(fusion="mopoe", latent_dim=8))
    losses = _steps(model, bpe_data[list(range(32))])
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    model.eval()
    batch = bpe_data[[0, 1, 2]]
    out = model.generate({"image": batch.data["image"]}, ["text"], torch.Generator().manual_seed(0))
    _strings(bpe_modalities["text"], out["text"])
    image = model.generate({"text": bpe_modalities["text"].encode(["a zebra"])}, ["image"],
                           torch.Generator().manual_seed(0))["image"]
    assert image.shape == (1, 3, 16, 16)


def test_gan_on_bpe_text(bpe_modalities, bpe_data):
    torch.manual_seed(0)
    mods = {m: bpe_modalities[m] for m in ("image", "text")}
    model = ConditionalGAN(mods, GANConfig(g_channels=8, d_channels=8, noise_dim=8, cond_dim=16, w_dim=32))
    groups = model.parameter_groups()
    opt_g = torch.optim.Adam(groups["generator"], lr=2e-3, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(groups["discriminator"], lr=2e-3, betas=(0.0, 0.9))
    d, g = plain_update(model, bpe_data[list(range(16))], opt_g, opt_d)
    assert torch.isfinite(d["loss"]) and torch.isfinite(g["loss"])
    text = mods["text"]
    ids = text.encode(["a small red circle at the top left", "a red circle", "a blue square"])
    fits = condition_fits({"text": ids}, {"text": torch.ones(3, dtype=torch.bool)}, mods)
    assert fits[1, 0] and not fits[0, 1] and not fits[2, 0]
    model.eval()
    out = model.generate({"text": ids}, ["image"], torch.Generator().manual_seed(0))["image"]
    assert out.shape == (3, 3, 16, 16)


def test_captioner_on_bpe_text(bpe_modalities, bpe_data):
    torch.manual_seed(0)
    model = Captioner(bpe_modalities, CaptionerConfig(width=32, heads=2, encoder_layers=1, decoder_layers=1,
                                                      stem_channels=8))
    losses = _steps(model, bpe_data[list(range(32))])
    assert losses[-1] < losses[0]
    model.eval()
    batch = bpe_data[[0, 1]]
    for source in ("image", "audio", "video"):
        for method in ("greedy", "beam"):
            ids = model.generate({source: batch.data[source]}, ["text"], method=method)["text"]
            _strings(bpe_modalities["text"], ids)


def test_expander_on_bpe_text(bpe_modalities):
    text = bpe_modalities["text"]
    partial = ["a red circle", "a blue square"] * 16
    complete = ["a big red circle on a plain background", "a small blue square at the top left"] * 16
    model, summary = train_expander(text, partial, complete, steps=150, batch_size=16, lr=3e-3,
                                    config=ExpanderConfig(width=32, heads=2, encoder_layers=1, decoder_layers=1))
    assert summary["steps"] == 150
    out = text.decode(model.expand(text.encode(["a blue square", "a red circle"]), temperature=0.0))
    assert out == ["a small blue square at the top left", "a big red circle on a plain background"]
    assert isinstance(CaptionExpander(text, ExpanderConfig(width=32, heads=2, encoder_layers=1,
                                                           decoder_layers=1)), CaptionExpander)


def test_autoregressive_generator_on_bpe_text(bpe_modalities, bpe_data, tmp_path):
    from synesthesia.runs.config import RunConfig
    from synesthesia.runs.folder import read_finished_run
    from synesthesia.training.run import train

    tok = train(RunConfig.from_dict({
        "family": "transformer", "model": {"kind": "tokenizer", "channels": 8, "levels": [5, 5, 5]},
        "modalities": {"image": dict(TINY_MODALITIES["image"])},
        "data": {"world": dict(TINY_WORLD), "modalities": ["image"], "n_train": 32, "n_val": 8},
        "train": {"batch_size": 16, "max_steps": 2, "checkpoint_every": 2, "log_every": 1}}),
        tmp_path / "tok", progress=False)
    torch.manual_seed(0)
    mods = {m: bpe_modalities[m] for m in ("image", "text")}
    model = AutoregressiveGenerator(mods, AutoregressiveConfig(kind="autoregressive", width=32, heads=2, layers=1,
                                                               tokenizer_run=str(tok)),
                                    read_run=read_finished_run)
    losses = _steps(model, bpe_data[list(range(16))], steps=6)
    assert losses[-1] < losses[0]
    model.eval()
    g = torch.Generator().manual_seed(0)
    _strings(mods["text"], model.sample_text(3, g))
    image = model.generate({"text": mods["text"].encode(["a purple giraffe"])}, ["image"], g)["image"]
    assert image.shape == (1, 3, 16, 16)


def test_a_run_on_users_files_trains_bpe_and_reads_any_caption(tmp_path):
    from synesthesia.pipeline import load
    from synesthesia.runs.config import RunConfig
    from synesthesia.training.run import train
    from synesthesia.world import WorldConfig
    from synesthesia.world.cache import write_cache
    from synesthesia.world.export import export_files
    from synesthesia.world.world import ShapesWorld

    world = ShapesWorld(WorldConfig(level=3, image_size=16, modalities=("image", "text")))
    write_cache(world, tmp_path / "cache", 48, splits={"train": 1.0})
    manifest = export_files(tmp_path / "cache", tmp_path / "files", n=48)
    run = train(RunConfig.from_dict({
        "family": "joint_vae", "model": {"fusion": "mopoe", "latent_dim": 8},
        "modalities": {"image": dict(TINY_MODALITIES["image"]), "text": dict(TINY_MODALITIES["text"])},
        "data": {"manifest": str(manifest), "n_train": 40, "n_val": 8},
        "train": {"batch_size": 16, "max_steps": 2, "checkpoint_every": 2, "log_every": 1}}),
        tmp_path / "run", progress=False)
    assert RunConfig.from_yaml(run / "config.yaml").modalities["text"].tokenizer == "bpe"
    pipe = load(run)
    assert pipe.generate("image", text="a purple giraffe", seed=0)[0].size == (16, 16)
    assert isinstance(pipe.generate("text", image=str(tmp_path / "files" / "image" / "000000.png"), seed=0)[0], str)
