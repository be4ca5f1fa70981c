"""Latents of a joint VAE for a request: MCMC on its posterior, importance resampling, and the
fitted priors (aggregate posterior, Gaussian mixture) as p(z), through synesthesia.sampling."""

import pytest
import torch

from synesthesia.models.gaussian import diagonal_mixture_log_prob, gaussian_log_prob, standard_log_prob
from synesthesia.models.joint_vae import JointVAE, JointVAEConfig
from synesthesia.sampling import SamplingError
from synesthesia.sampling.densities import AggregatePosterior, GaussianMixture, density_from_state
from synesthesia.sampling.latent import LatentModel, conditional_latents, log_joint, mcmc_latents, resampled_latents


def _trained(tiny_modalities, tiny_data, fusion="mopoe", steps=10):
    model = JointVAE(tiny_modalities, JointVAEConfig(latent_dim=8, fusion=fusion))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = tiny_data[list(range(64))]
    for _ in range(steps):
        loss = model(batch.data, batch.masks)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_the_joint_vae_is_a_latent_model(tiny_modalities):
    assert isinstance(JointVAE(tiny_modalities, JointVAEConfig(latent_dim=8)), LatentModel)


def test_log_joint_is_prior_plus_likelihoods(tiny_modalities, tiny_data):
    model = JointVAE(tiny_modalities, JointVAEConfig(latent_dim=8)).eval()
    given = {"image": tiny_data[[0, 1]].data["image"]}
    z = torch.randn(3, 2, 8)
    lj = log_joint(model, z, given, weighted=False)
    assert lj.shape == (3, 2)
    direct = standard_log_prob(z[1]) + model.log_likelihoods(z[1], given)["image"]
    assert torch.allclose(lj[1], direct, atol=1e-4)
    w = tiny_modalities["image"].likelihood_weight()
    weighted = standard_log_prob(z[1]) + w * model.log_likelihoods(z[1], given)["image"]
    assert torch.allclose(log_joint(model, z, given)[1], weighted, atol=1e-3)


@pytest.mark.parametrize("sampler", ["mala", "hmc"])
def test_mcmc_raises_the_log_posterior(sampler, tiny_modalities, tiny_data, seeded):
    """MCMC moves z from the amortised draws towards higher p(z) p(x | z)."""
    model = _trained(tiny_modalities, tiny_data)
    given = {"text": tiny_data[list(range(16))].data["text"]}
    z0 = model.sample_posterior(given, torch.Generator().manual_seed(0))
    extra = {"n_leapfrog": 4} if sampler == "hmc" else {}
    z, info = mcmc_latents(model, given, sampler, steps=20, chains=2, generator=torch.Generator().manual_seed(0),
                           **extra)
    with torch.no_grad():
        before, after = log_joint(model, z0[None], given).mean(), log_joint(model, z[None], given).mean()
    assert after > before
    assert info["sampler"] == sampler and 0 < info["acceptance"] <= 1 and "rhat_max" in info


def test_importance_resampling_prefers_likely_latents(tiny_modalities, tiny_data, seeded):
    model = _trained(tiny_modalities, tiny_data)
    given = {"image": tiny_data[list(range(32))].data["image"]}
    with torch.no_grad():
        one = torch.stack([log_joint(model, model.sample_posterior(given)[None], given)[0] for _ in range(4)]).mean()
        best = log_joint(model, resampled_latents(model, given, 16)[None], given)[0].mean()
    assert best > one


@pytest.mark.parametrize("fusion", ["poe", "moe", "mopoe"])
def test_aggregate_prior(fusion, tiny_modalities, tiny_data, seeded):
    """The aggregate posterior of training rows replaces N(0, I) in the MCMC target: it is the
    mixture of q(z | x_i), and chains under it end nearer the training latents."""
    model = _trained(tiny_modalities, tiny_data, fusion)
    batch = tiny_data[list(range(40))]
    given = {"text": batch.data["text"][:8]}
    prior = AggregatePosterior.fit(*model.row_posteriors(batch.data, batch.masks, batch_size=16))
    assert prior.means.shape == prior.logvars.shape == ((4 * 40 if fusion == "moe" else 40), 8)
    z = torch.randn(3, 8, 8)
    with torch.no_grad():
        diff = log_joint(model, z, given, prior) - log_joint(model, z, given)
    flat = z.reshape(-1, 8)
    expected = diagonal_mixture_log_prob(flat, prior.means, prior.logvars) - standard_log_prob(flat)
    assert torch.allclose(diff.reshape(-1), expected, atol=1e-3)
    # a single far-away component pulls the chains towards it
    far_prior = AggregatePosterior(torch.full((1, 8), 3.0), torch.zeros(1, 8))
    far, info = mcmc_latents(model, given, "hmc", steps=30, generator=torch.Generator().manual_seed(0), prior=far_prior)
    near, _ = mcmc_latents(model, given, "hmc", steps=30, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pull = far_prior.log_prob(far) - far_prior.log_prob(near)
    assert far.mean() > near.mean() and pull.mean() > 5.0 and info["prior"] == "aggregate"
    z, _ = conditional_latents(model, given, torch.Generator().manual_seed(0), proposals=4, prior=prior)
    assert z.shape == (8, 8)
    with pytest.raises(SamplingError, match="give sampler="):
        conditional_latents(model, given, prior=prior)


def test_gmm_prior_and_its_round_trip(tiny_modalities, tiny_data, seeded):
    """A Gaussian mixture fitted to draws of the aggregate posterior; its number of components is
    the held-out-likeliest of those offered, and it survives saving."""
    model = _trained(tiny_modalities, tiny_data)
    batch = tiny_data[list(range(40))]
    gmm = GaussianMixture.fit(*model.row_posteriors(batch.data, batch.masks), draws=4, components=(1, 2, 4))
    k = len(gmm.means)
    assert k == max(gmm.scores, key=gmm.scores.get) and set(gmm.scores) == {1, 2, 4}
    assert gmm.means.shape == gmm.logvars.shape == (k, 8) and gmm.log_weights.shape == (k,)
    z = torch.randn(6, 8)
    expected = torch.logsumexp(gaussian_log_prob(z[:, None, :], gmm.means, gmm.logvars) + gmm.log_weights, dim=1)
    assert torch.allclose(gmm.log_prob(z), expected, atol=1e-4)
    again = density_from_state(gmm.meta(), gmm.state_dict())
    assert torch.allclose(again.log_prob(z), gmm.log_prob(z)) and again.scores == gmm.scores
    assert gmm.sample(5, torch.Generator().manual_seed(0)).shape == (5, 8)
    with pytest.raises(SamplingError, match="draws must be"):
        GaussianMixture.fit(gmm.means, gmm.logvars, draws=0)
