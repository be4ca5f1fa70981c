import pytest
import torch
from torch import nn

from synesthesia.config import ConfigError
from synesthesia.errors import ModelInputError
from synesthesia.models.joint_vae import JointVAE, JointVAEConfig


def _train(model, data, steps, lr=3e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    batch = data[list(range(64))]
    losses = []
    for _ in range(steps):
        out = model(batch.data, batch.masks)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    return losses


@pytest.mark.parametrize("fusion", ["poe", "moe", "mopoe"])
def test_loss_decreases_on_a_tiny_world(fusion, tiny_modalities, tiny_data, seeded):
    model = JointVAE(tiny_modalities, JointVAEConfig(fusion=fusion, latent_dim=8))
    losses = _train(model, tiny_data, 25)
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    out = model(tiny_data[[0, 1]].data)
    assert set(out["rec"]) == set(tiny_modalities) and torch.isfinite(out["loss"])
    assert int(model.steps) == 26


def test_missing_modalities_do_not_touch_their_encoders(tiny_modalities, tiny_data, seeded):
    model = JointVAE(tiny_modalities, JointVAEConfig(fusion="mopoe", latent_dim=8))
    batch = tiny_data[list(range(8))]
    masks = dict(batch.masks)
    masks["audio"] = torch.zeros(8, dtype=torch.bool)
    masks["video"] = torch.tensor([True, False] * 4)
    model(batch.data, masks)["loss"].backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.encoders["audio"].parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoders["video"].parameters())
    # a batch that lacks a modality entirely also trains
    partial = {m: x for m, x in batch.data.items() if m != "video"}
    assert torch.isfinite(model(partial)["loss"])


@pytest.mark.parametrize("fusion", ["poe", "moe", "mopoe"])
def test_generate_any_target_from_any_subset(fusion, tiny_modalities, tiny_data):
    model = JointVAE(tiny_modalities, JointVAEConfig(fusion=fusion, latent_dim=8)).eval()
    batch = tiny_data[[0, 1, 2]]
    for given in (["text"], ["image", "audio"], ["video"]):
        out = model.generate({m: batch.data[m] for m in given}, list(tiny_modalities),
                             generator=torch.Generator().manual_seed(0))
        for m, x in out.items():
            assert x.shape == batch.data[m].shape, m
    prior = model.generate({}, ["image"], batch_size=5)
    assert prior["image"].shape == (5, 3, 16, 16)
    a = model.generate({"text": batch.data["text"]}, ["image"], generator=torch.Generator().manual_seed(3))
    b = model.generate({"text": batch.data["text"]}, ["image"], generator=torch.Generator().manual_seed(3))
    assert torch.equal(a["image"], b["image"])
    with pytest.raises(ModelInputError, match="cannot generate"):
        model.generate({"text": batch.data["text"]}, ["smell"])
    with pytest.raises(ModelInputError, match="no modality"):
        model.generate({"smell": batch.data["text"]}, ["image"])


@pytest.mark.parametrize("fusion", ["poe", "moe", "mopoe"])
def test_importance_weighted_bound_tightens_with_k(fusion, tiny_modalities, tiny_data, seeded):
    model = JointVAE(tiny_modalities, JointVAEConfig(fusion=fusion, latent_dim=8))
    _train(model, tiny_data, 10)
    model.eval()
    batch = tiny_data[list(range(32))]
    g = torch.Generator().manual_seed(0)
    k1 = torch.stack([model.iwae(batch.data, k=1, generator=g) for _ in range(8)]).mean()
    k32 = model.iwae(batch.data, k=32, generator=g).mean()
    assert k32 > k1
    only_text = model.iwae({"text": batch.data["text"]}, k=8)
    assert only_text.shape == (32,) and (only_text < 0).all()


def test_users_own_networks_replace_the_defaults(tiny_modalities, tiny_data):
    enc = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, tiny_modalities["image"].feature_dim))
    dec = nn.Sequential(nn.Linear(8, 3 * 16 * 16), nn.Unflatten(1, (3, 16, 16)))
    model = JointVAE(tiny_modalities, JointVAEConfig(latent_dim=8), encoders={"image": enc},
                     decoders={"image": dec})
    assert model.encoders["image"] is enc and model.decoders["image"] is dec
    batch = tiny_data[[0, 1]]
    model(batch.data)["loss"].backward()
    assert enc[1].weight.grad is not None and dec[0].weight.grad is not None


def test_config_errors_and_yaml_round_trip(tmp_path):
    with pytest.raises(ConfigError, match="choose from poe, moe, mopoe"):
        JointVAEConfig(fusion="product")
    with pytest.raises(ConfigError, match="'latent'"):
        JointVAEConfig.from_dict({"latent": 3})
    cfg = JointVAEConfig(fusion="moe", latent_dim=12, beta=0.5)
    assert JointVAEConfig.from_yaml(cfg.to_yaml(tmp_path / "m.yaml")) == cfg


def test_kl_warmup_ramps_beta(tiny_modalities, tiny_data):
    model = JointVAE(tiny_modalities, JointVAEConfig(latent_dim=8, beta=2.0, kl_warmup_steps=4))
    batch = tiny_data[[0, 1]]
    betas = [model(batch.data)["beta"].item() for _ in range(6)]
    assert betas == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
