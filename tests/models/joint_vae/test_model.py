import pytest
import torch
from torch import nn

from synesthesia.config import ConfigError
from synesthesia.models.joint_vae import JointVAE, JointVAEConfig
from synesthesia.models.joint_vae.model import ModelInputError


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


def test_log_joint_is_prior_plus_likelihoods(tiny_modalities, tiny_data):
    model = JointVAE(tiny_modalities, JointVAEConfig(latent_dim=8)).eval()
    given = {"image": tiny_data[[0, 1]].data["image"]}
    z = torch.randn(3, 2, 8)
    lj = model.log_joint(z, given, weighted=False)
    assert lj.shape == (3, 2)
    from synesthesia.models.joint_vae.fusion import standard_log_prob

    direct = standard_log_prob(z[1]) + model.log_likelihoods(z[1], given)["image"]
    assert torch.allclose(lj[1], direct, atol=1e-4)
    w = tiny_modalities["image"].likelihood_weight()
    weighted = standard_log_prob(z[1]) + w * model.log_likelihoods(z[1], given)["image"]
    assert torch.allclose(model.log_joint(z, given)[1], weighted, atol=1e-3)


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


@pytest.mark.parametrize("sampler", ["mala", "hmc"])
def test_mcmc_generation_raises_the_log_posterior(sampler, tiny_modalities, tiny_data, seeded):
    """MCMC moves z from the amortised draws towards higher p(z) p(x | z)."""
    model = JointVAE(tiny_modalities, JointVAEConfig(latent_dim=8))
    _train(model, tiny_data, 10)
    model.eval()
    given = {"text": tiny_data[list(range(16))].data["text"]}
    g = torch.Generator().manual_seed(0)
    z0 = model.sample_posterior(given, g)
    z = model.sample_posterior_mcmc(given, sampler, steps=20, chains=2, generator=torch.Generator().manual_seed(0),
                                    n_leapfrog=4) if sampler == "hmc" else \
        model.sample_posterior_mcmc(given, sampler, steps=20, chains=2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before, after = model.log_joint(z0[None], given).mean(), model.log_joint(z[None], given).mean()
    assert after > before
    out = model.generate(given, ["image"], generator=g, sampler=sampler, steps=6, chains=2)
    assert out["image"].shape == (16, 3, 16, 16)
    info = model.last_sampling
    assert info["sampler"] == sampler and 0 < info["acceptance"] <= 1 and "rhat_max" in info


def test_importance_resampling_prefers_likely_latents(tiny_modalities, tiny_data, seeded):
    model = JointVAE(tiny_modalities, JointVAEConfig(latent_dim=8))
    _train(model, tiny_data, 10)
    model.eval()
    given = {"image": tiny_data[list(range(32))].data["image"]}
    with torch.no_grad():
        one = torch.stack([model.log_joint(model.sample_posterior(given)[None], given)[0] for _ in range(4)]).mean()
        best = model.log_joint(model.sample_posterior_resampled(given, 16)[None], given)[0].mean()
    assert best > one


def _unfitted_prior(fusion, prior, tiny_modalities, tiny_data):
    """A briefly trained model, 40 training rows and 8 captions; ``prior`` is refused until fitted."""
    model = JointVAE(tiny_modalities, JointVAEConfig(latent_dim=8, fusion=fusion))
    _train(model, tiny_data, 10)
    model.eval()
    batch = tiny_data[list(range(40))]
    given = {"text": batch.data["text"][:8]}
    with pytest.raises(ModelInputError, match=f"fit_{prior}_prior"):
        model.generate(given, ["image"], sampler="hmc", steps=2, prior=prior)
    return model, batch, given


@pytest.mark.parametrize("fusion", ["poe", "moe", "mopoe"])
def test_aggregate_prior(fusion, tiny_modalities, tiny_data, seeded):
    """The aggregate posterior of training rows replaces N(0, I) in the MCMC target: it is the
    mixture of q(z | x_i), and chains under it end nearer the training latents."""
    from synesthesia.models.joint_vae import fusion as F

    model, batch, given = _unfitted_prior(fusion, "aggregate", tiny_modalities, tiny_data)
    means, logvars = model.fit_aggregate_prior(batch.data, batch.masks, batch_size=16)
    assert means.shape == logvars.shape == ((4 * 40 if fusion == "moe" else 40), 8)
    z = torch.randn(3, 8, 8)
    with torch.no_grad():
        diff = model.log_joint(z, given, prior="aggregate") - model.log_joint(z, given)
    expected = F.diagonal_mixture_log_prob(z.reshape(-1, 8), means, logvars) - F.standard_log_prob(z.reshape(-1, 8))
    assert torch.allclose(diff.reshape(-1), expected, atol=1e-3)
    # a single far-away component pulls the chains towards it
    model.aggregate_prior = (torch.full((1, 8), 3.0), torch.zeros(1, 8))
    g = torch.Generator().manual_seed(0)
    far = model.sample_posterior_mcmc(given, "hmc", steps=30, generator=g, prior="aggregate")
    near = model.sample_posterior_mcmc(given, "hmc", steps=30, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pull = F.diagonal_mixture_log_prob(far, *model.aggregate_prior) - F.diagonal_mixture_log_prob(near, *model.aggregate_prior)
    assert far.mean() > near.mean() and pull.mean() > 5.0
    out = model.generate(given, ["image"], generator=g, sampler="hmc", steps=4, prior="aggregate")
    assert out["image"].shape == (8, 3, 16, 16) and model.last_sampling["prior"] == "aggregate"
    assert model.generate(given, ["image"], generator=g, proposals=4, prior="aggregate")["image"].shape[0] == 8
    with pytest.raises(ModelInputError, match="give sampler="):
        model.generate(given, ["image"], prior="aggregate")
    with pytest.raises(ModelInputError, match="prior 'flat' unknown"):
        model.generate(given, ["image"], sampler="hmc", prior="flat")


def test_gmm_prior(tiny_modalities, tiny_data, seeded):
    """A Gaussian mixture fitted to draws of the aggregate posterior is the MCMC prior with
    prior="gmm"; its number of components is the held-out-likeliest of those offered."""
    from synesthesia.models.joint_vae import fusion as F

    model, batch, given = _unfitted_prior("mopoe", "gmm", tiny_modalities, tiny_data)
    means, logvars, log_w = model.fit_gmm_prior(batch.data, batch.masks, draws=4, components=(1, 2, 4))
    k = len(means)
    assert k == max(model.gmm_prior_scores, key=model.gmm_prior_scores.get) and set(model.gmm_prior_scores) == {1, 2, 4}
    assert means.shape == logvars.shape == (k, 8) and log_w.shape == (k,)
    z = torch.randn(3, 8, 8)
    with torch.no_grad():
        diff = model.log_joint(z, given, prior="gmm") - model.log_joint(z, given)
    flat = z.reshape(-1, 8)
    expected = F.diagonal_mixture_log_prob(flat, means, logvars, log_w) - F.standard_log_prob(flat)
    assert torch.allclose(diff.reshape(-1), expected, atol=1e-3)
    out = model.generate(given, ["image"], generator=torch.Generator().manual_seed(0), sampler="hmc", steps=4,
                         prior="gmm")
    assert out["image"].shape == (8, 3, 16, 16) and model.last_sampling["prior"] == "gmm"
    with pytest.raises(ModelInputError, match="draws must be"):
        model.fit_gmm_prior(batch.data, draws=0)
