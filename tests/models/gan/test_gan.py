import json
import warnings

import pytest
import torch
from tests.conftest import TINY_MODALITIES, TINY_WORLD

from synesthesia.config import ConfigError
from synesthesia.models.gan import ConditionalGAN, GANConfig, ModelInputError
from synesthesia.models.gan.augment import cutout, diff_augment, translation
from synesthesia.models.gan.conditions import condition_fits
from synesthesia.runs.config import RunConfig, TrainConfig
from synesthesia.training.adversarial import AdversarialModule, CollapseMonitor, ModeCollapseWarning, plain_update

TINY = {"g_channels": 8, "d_channels": 8, "noise_dim": 8, "cond_dim": 16, "w_dim": 32}


def _gan(modalities, names=("image", "text"), **cfg):
    return ConditionalGAN({m: modalities[m] for m in names}, GANConfig(**{**TINY, **cfg}))


def _step(model, batch, opts):
    """One adversarial step as the trainer takes it (without Lightning)."""
    opt_g, opt_d = opts
    return plain_update(model, batch, opt_g, opt_d)


def _optimisers(model, lr=2e-3):
    groups = model.parameter_groups()
    return (torch.optim.Adam(groups["generator"], lr=lr, betas=(0.0, 0.9)),
            torch.optim.Adam(groups["discriminator"], lr=lr, betas=(0.0, 0.9)))


def _snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(module, before):
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_one_step_changes_both_networks_and_the_average(tiny_modalities, tiny_data, seeded):
    model = _gan(tiny_modalities, diffaugment="translation,cutout", mode_seeking_weight=1.0)
    before = {k: _snapshot(getattr(model, k)) for k in ("generators", "discriminators", "conditioners", "ema")}
    d, g = _step(model, tiny_data[list(range(16))], _optimisers(model))
    for k, snap in before.items():
        assert _changed(getattr(model, k), snap), k
    assert torch.isfinite(d["loss"]) and torch.isfinite(g["loss"])
    assert {"adversarial", "real", "fake", "wrong", "contrastive"} <= set(d["image"])
    assert {"adversarial", "contrastive", "mode_seeking"} <= set(g["image"])
    # the generator's loss does not reach the discriminator's parameters when they are frozen
    assert all(not p.requires_grad for p in model.ema.parameters())


def test_wrong_condition_raises_the_discriminators_loss_on_real_images(tiny_modalities, tiny_data, seeded):
    model = _gan(tiny_modalities)
    opts = _optimisers(model, lr=2e-3)
    for i in range(80):
        _step(model, tiny_data[[(i * 32 + k) % 256 for k in range(32)]], opts)
    model.eval()
    batch = tiny_data[list(range(64))]
    d = model.discriminators["image"]
    with torch.no_grad():
        cond = model.conditioners["image"]({"text": batch.data["text"]})
        phi = d.features(batch.data["image"])
        right = torch.relu(1 - d.score(phi, cond)).mean()
        wrong = torch.relu(1 - d.score(phi, cond.roll(1, 0))).mean()
    assert wrong > right + 0.2, (float(right), float(wrong))


def test_condition_fits_reads_partial_captions_as_subsets(tiny_modalities):
    text = tiny_modalities["text"]
    captions = ["a small red circle at the top left", "a red circle", "a blue square", "a small red circle at the top left"]
    ids = text.encode(captions)
    present = {"text": torch.tensor([True, True, True, False])}
    fits = condition_fits({"text": ids}, present, {"text": text})
    # "a red circle" fits the full caption, not the reverse; "a blue square" fits neither
    assert fits[1, 0] and not fits[0, 1] and not fits[2, 0] and not fits[2, 1]
    # a missing condition fits everything; everything fits itself
    assert fits[3].all() and fits.diagonal().all()
    # a non-text condition fits only its own row
    audio = tiny_modalities["audio"]
    sound = torch.randn(4, *audio.shape)
    both = condition_fits({"text": ids, "audio": sound}, {"text": present["text"], "audio": torch.ones(4, dtype=torch.bool)},
                          {"text": text, "audio": audio})
    assert torch.equal(both, torch.eye(4, dtype=torch.bool))


def test_dropping_false_negatives_removes_fitting_pairs_from_the_losses(tiny_modalities, tiny_data, seeded):
    batch = tiny_data[list(range(16))]
    same = {"image": batch.data["image"], "text": batch.data["text"][:1].expand(16, -1).clone()}
    losses = {}
    for drop in (False, True):
        torch.manual_seed(0)
        model = _gan(tiny_modalities, drop_false_negatives=drop)
        draw = model.draw(same)
        losses[drop] = model.discriminator_loss(same, None, draw)["image"], model.generator_loss(same, None, draw)["image"]
    # one caption for the whole batch: every other row is a false negative; without them the
    # contrastive terms have nothing to push apart
    assert losses[False][0]["contrastive"] > 0.5 and losses[False][1]["contrastive"] > 0.5
    assert float(losses[True][0]["contrastive"]) == pytest.approx(0.0, abs=1e-6)
    assert float(losses[True][1]["contrastive"]) == pytest.approx(0.0, abs=1e-6)
    # on distinct full captions nothing is dropped
    torch.manual_seed(0)
    model = _gan(tiny_modalities, drop_false_negatives=True)
    draw = model.draw(batch.data, batch.masks)
    fits = draw.fits["image"]
    assert torch.isfinite(model.discriminator_loss(batch.data, batch.masks, draw)["loss"])
    text = batch.data["text"]
    same_caption = (text[:, None] == text[None, :]).all(-1)                      # (16, 16)
    assert not (fits & ~same_caption).any()


def test_sampling_uses_the_moving_average(tiny_modalities, tiny_data, seeded):
    model = _gan(tiny_modalities, ema_decay=0.9)
    opts = _optimisers(model)
    for i in range(3):
        _step(model, tiny_data[list(range(16 * i, 16 * i + 16))], opts)
    model.eval()
    text = tiny_data[[0, 1, 2, 3]].data["text"]

    def sample(**kw):
        return model.generate({"text": text}, ["image"], generator=torch.Generator().manual_seed(0), **kw)["image"]

    before, online_before = sample(), sample(ema=False)
    assert not torch.equal(before, online_before)                  # the average differs from the online net
    with torch.no_grad():
        for p in model.generators["image"].parameters():
            p.add_(torch.randn_like(p))
    assert torch.equal(sample(), before)                          # perturbing the online generator changes nothing
    assert not torch.allclose(sample(ema=False), online_before)
    # the average is exactly what the EMA modules compute
    cond = model.ema["image"]["conditioner"]({"text": text})
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(
        int(torch.randint(0, 2**62, (1,), generator=torch.Generator().manual_seed(0)))))
    assert torch.allclose(model.ema["image"]["generator"](z, cond), before)


def test_generate_directions_temperature_and_errors(tiny_modalities, tiny_data, seeded):
    model = _gan(tiny_modalities, names=("image", "text", "audio", "video")).eval()
    batch = tiny_data[[0, 1, 2]]
    assert (("text",), "image") in model.directions() and (("image", "text"), "video") in model.directions()
    out = model.generate({"text": batch.data["text"], "audio": batch.data["audio"]}, ["image", "video"])
    assert out["image"].shape == (3, 3, 16, 16) and out["video"].shape == (3, 4, 3, 16, 16)
    assert 0 <= float(out["image"].min()) and float(out["image"].max()) <= 1
    cold = [model.generate({"text": batch.data["text"]}, ["image"], generator=torch.Generator().manual_seed(s),
                           temperature=0.0)["image"] for s in (1, 2)]
    assert torch.equal(*cold)                                      # temperature 0: z = 0
    warm = [model.generate({"text": batch.data["text"]}, ["image"], generator=torch.Generator().manual_seed(s))["image"]
            for s in (1, 2)]
    assert not torch.equal(*warm)
    with pytest.raises(ModelInputError, match="cannot generate 'text'"):
        model.generate({"image": batch.data["image"]}, ["text"])
    with pytest.raises(ModelInputError, match="not conditioned on"):
        model.generate({"image": batch.data["image"]}, ["image"])
    with pytest.raises(ModelInputError, match="unknown generation option"):
        model.generate({"text": batch.data["text"]}, ["image"], steps=3)
    with pytest.raises(ModelInputError, match="batch_size"):
        model.generate({}, ["image"])
    with pytest.raises(ModelInputError, match="bank is empty"):
        model.generate({}, ["image", "text"], batch_size=2)


def test_unconditional_samples_draw_remembered_conditions(tiny_modalities, tiny_data, seeded):
    model = _gan(tiny_modalities, bank_size=64)
    _step(model, tiny_data[list(range(40))], _optimisers(model))
    _step(model, tiny_data[list(range(40, 80))], _optimisers(model))
    assert model.bank.filled == 64 and int(model.bank.count) == 80
    model.eval()
    texts = tiny_data[list(range(80))].data["text"]
    joint = model.generate({}, ["image", "text"], generator=torch.Generator().manual_seed(3), batch_size=6)
    alone = model.generate({}, ["text"], generator=torch.Generator().manual_seed(3), batch_size=6)["text"]
    image = model.generate({}, ["image"], generator=torch.Generator().manual_seed(3), batch_size=6)["image"]
    assert torch.equal(joint["text"], alone) and torch.equal(joint["image"], image)
    assert all((texts == row).all(1).any() for row in alone)         # every caption is a remembered one
    conditioned = model.generate({"text": alone}, ["image"], generator=torch.Generator().manual_seed(9))["image"]
    assert conditioned.shape == image.shape
    # the bank travels with the weights
    again = _gan(tiny_modalities, bank_size=64)
    again.load_state_dict(model.state_dict())
    assert torch.equal(again.eval().generate({}, ["text"], generator=torch.Generator().manual_seed(3),
                                             batch_size=6)["text"], alone)


def test_video_target_trains_from_text(tiny_modalities, tiny_data, seeded):
    model = _gan(tiny_modalities, names=("video", "text"))
    before = _snapshot(model.generators["video"])
    d, g = _step(model, tiny_data[list(range(8))], _optimisers(model))
    assert _changed(model.generators["video"], before) and torch.isfinite(g["loss"])
    assert model.directions() == [(("text",), "video")]


def test_sound_target_trains_from_images_in_the_spectrograms_range(tiny_modalities, tiny_data, seeded):
    model = _gan(tiny_modalities, names=("audio", "image"), targets=["audio"])
    assert model.directions() == [(("image",), "audio")]
    opts = _optimisers(model)
    real = tiny_data[list(range(64))].data["audio"]
    model.eval()
    first = model.generate({"image": tiny_data[list(range(64))].data["image"]}, ["audio"])["audio"]
    model.train()
    for i in range(100):
        d, g = _step(model, tiny_data[[(i * 16 + k) % 256 for k in range(16)]], opts)
    assert torch.isfinite(d["loss"]) and {"adversarial", "contrastive"} <= set(g["audio"])
    model.eval()
    out = model.generate({"image": tiny_data[list(range(64))].data["image"]}, ["audio"])["audio"]
    assert out.shape == real.shape and out.min() >= -1 and out.max() <= 1
    # the average spectrogram moves from the untrained generator's (about 0, i.e. -50 dB) to the data's
    def gap(x):
        return float((x.mean(0) - real.mean(0)).square().mean())

    assert gap(out) < 0.6 * gap(first), (gap(first), gap(out))


def test_spectrogram_layouts_halve_each_axis_to_four(tiny_modalities):
    from synesthesia.modalities.audio import AudioModality
    from synesthesia.models.gan.networks import Discriminator, Generator, audio_layout

    layout = audio_layout(AudioModality(n_mels=16, frames=64, seconds=0.5, n_fft=256))
    assert layout.start == (4, 4) and layout.strides == ((2, 2), (2, 2), (1, 2), (1, 2))
    x = torch.rand(3, 16, 64) * 2 - 1
    assert torch.allclose(layout.from_net(layout.to_net(x)), x, atol=1e-6)
    g, d = Generator(layout, 8, 16, 32, 8), Discriminator(layout, 16, 8)
    assert g(torch.randn(3, 8), torch.randn(3, 16)).shape == (3, 16, 64)
    assert d.features(x).shape == (3, 256)
    with pytest.raises(ConfigError, match="4 times a power of two; this sound has 24 bands"):
        audio_layout(AudioModality(n_mels=24, frames=64, seconds=0.5, n_fft=256))


def test_frame_sampled_video_trains_on_k_frames_and_samples_whole_clips(tiny_modalities, tiny_data, seeded):
    model = _gan(tiny_modalities, names=("video", "text"), sampled_frames=2, mode_seeking_weight=1.0)
    before = {k: _snapshot(getattr(model, k)) for k in ("generators", "discriminators")}
    batch = tiny_data[list(range(8))]
    d, g = _step(model, batch, _optimisers(model))
    for k, snap in before.items():
        assert _changed(getattr(model, k), snap), k
    assert torch.isfinite(d["loss"]) and torch.isfinite(g["loss"]) and "mode_seeking" in g["video"]
    draw = model.draw(batch.data, batch.masks)
    times = draw.times["video"]
    assert times.shape == (8, 2) and bool((times[:, 1] > times[:, 0]).all())   # distinct, in time order
    assert draw.fake["video"].shape == (8, 2, 3, 16, 16)
    real = model._real(batch.data, draw, "video")
    assert torch.equal(real[3, 1], batch.data["video"][3, int(times[3, 1])])
    # a frame is a function of (z, c, time) alone: rendered among two or among all four, it is the same
    gen = model.generators["video"]
    with torch.no_grad():
        c = model.conditioners["video"]({"text": batch.data["text"]})
        z = torch.randn(8, 8)
        whole = gen(z, c)
        assert whole.shape == (8, 4, 3, 16, 16)
        torch.testing.assert_close(gen(z, c, times), whole[torch.arange(8)[:, None], times])
        # the discriminator reads frames with their times: the same frames in another order differ
        disc = model.discriminators["video"]
        phi = disc.features(real, times)
        assert not torch.allclose(phi, disc.features(real.flip(1), times))
    out = model.eval().generate({"text": batch.data["text"][:3]}, ["video"])
    assert out["video"].shape == (3, 4, 3, 16, 16)
    with pytest.raises(ConfigError, match="at least 2"):
        GANConfig(sampled_frames=1)
    with pytest.raises(ConfigError, match="clips have 4 frames"):
        _gan(tiny_modalities, names=("video", "text"), sampled_frames=5)


def test_diffaugment_keeps_shapes_and_gradients():
    x = torch.rand(4, 3, 8, 8, requires_grad=True)
    y = diff_augment(x, ["color", "translation", "cutout"], torch.Generator().manual_seed(0))
    y.sum().backward()
    assert y.shape == x.shape and x.grad is not None
    video = torch.rand(2, 5, 3, 8, 8)
    shifted = translation(video, torch.Generator().manual_seed(1), ratio=0.25)
    assert shifted.shape == video.shape
    holes = cutout(torch.ones(64, 3, 8, 8), torch.Generator().manual_seed(2))
    assert 0.6 < float(holes.mean()) < 0.9                        # about a quarter of the area, cut at the edges
    assert torch.equal(diff_augment(x, []), x)


def test_collapse_monitor_warns_once_per_drop():
    m = CollapseMonitor(fraction=0.5, patience=2)
    assert [m.update(v) for v in (0.1, 0.4, 0.3, 0.1, 0.05, 0.3, 0.1)] == \
        [False, False, False, True, False, False, True]


def test_config_errors_and_yaml_round_trip(tmp_path, tiny_modalities):
    with pytest.raises(ConfigError, match="'lr_g'"):
        GANConfig.from_dict({"lr_g": 1.0})
    with pytest.raises(ConfigError, match="choose from color, translation, cutout"):
        GANConfig(diffaugment="flip")
    with pytest.raises(ConfigError, match="mismatch_weight"):
        GANConfig(mismatch_weight=1.5)
    with pytest.raises(ConfigError, match="it generates image, video, audio"):
        _gan(tiny_modalities, targets=["text"])
    with pytest.raises(ConfigError, match="a GAN generates image or video unless model.targets names audio"):
        _gan(tiny_modalities, names=("text", "audio"))
    with pytest.raises(ConfigError, match=r"conditions\['image'\]"):
        _gan(tiny_modalities, conditions={"image": ["image"]})
    model = _gan(tiny_modalities)
    with pytest.raises(ConfigError, match="train.gradient_clip: null"):
        AdversarialModule(model, TrainConfig(gradient_clip=5.0))
    cfg = GANConfig(targets=["image"], conditions={"image": ["text"]}, diffaugment="translation", betas=[0.5, 0.99])
    assert GANConfig.from_yaml(cfg.to_yaml(tmp_path / "m.yaml")) == cfg


# ---------------------------------------------------------------------------------------------
# through train() and synesthesia.load


def gan_run_config(**train):
    return RunConfig.from_dict({
        "family": "gan",
        "model": dict(TINY, diversity_every=2),
        "modalities": {m: dict(TINY_MODALITIES[m]) for m in ("image", "text")},
        "data": {"world": dict(TINY_WORLD), "n_train": 128, "n_val": 32, "modalities": ["image", "text"]},
        "train": {"batch_size": 32, "max_steps": 8, "max_epochs": 50, "checkpoint_every": 4, "log_every": 1,
                  "gradient_clip": None, "schedule": "constant", **train},
    })


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    from synesthesia.training.run import train

    return train(gan_run_config(), tmp_path_factory.mktemp("gan") / "run", progress=False)


def test_train_save_load_gives_identical_outputs(gan_run):
    from safetensors.torch import load_file

    import synesthesia as syn
    from synesthesia.runs import load_model

    for rel in ("config.yaml", "model.safetensors", "assets/tokenizer.json", "checkpoints/last.ckpt",
                "samples/epoch-000.png"):
        assert (gan_run / rel).is_file(), rel
    metrics = json.loads((gan_run / "metrics.json").read_text())["training"]
    assert metrics["global_step"] == 8                              # two optimiser steps per batch
    assert "train/diversity/image" in (gan_run / "logs" / "csv" / "metrics.csv").read_text()
    assert any(k.startswith("t.state_dict.model.ema.") for k in load_file(str(gan_run / "checkpoints" / "last.ckpt")))
    model, mods, _ = load_model(gan_run)
    again, _, _ = load_model(gan_run)
    text = mods["text"].encode(["a big red star", "there is a small blue circle"])
    outs = [m.generate({"text": text}, ["image"], generator=torch.Generator().manual_seed(5))["image"]
            for m in (model, again)]
    assert torch.equal(*outs) and model.bank.filled > 0
    a = syn.load(gan_run).generate("image", text="a big red star", n=2, seed=1)
    b = syn.load(gan_run).generate(to="image", text="a big red star", n=2, seed=1)
    assert len(a) == 2 and [i.tobytes() for i in a] == [i.tobytes() for i in b]


def test_resume_continues_adversarial_training(gan_run, tmp_path):
    import shutil

    from synesthesia.training.run import train

    run = shutil.copytree(gan_run, tmp_path / "run")
    train(gan_run_config(max_steps=12), run, resume=True, progress=False)
    assert json.loads((run / "metrics.json").read_text())["training"]["global_step"] == 12


def test_collapse_warning_and_non_finite_loss_through_train(tmp_path, monkeypatch):
    from synesthesia.training.module import NonFiniteLossError
    from synesthesia.training.run import train

    values = iter([0.5, 0.6, 0.4, 0.01, 0.01, 0.01, 0.01, 0.01])
    monkeypatch.setattr(ConditionalGAN, "sample_diversity", lambda self, data: {"image": next(values)})
    with pytest.warns(ModeCollapseWarning, match="possible mode collapse"):
        train(gan_run_config(max_steps=20), tmp_path / "collapse", progress=False)
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NonFiniteLossError, match="lower train.lr"):
            train(gan_run_config(lr=1e30, max_steps=40), tmp_path / "nan", progress=False)
