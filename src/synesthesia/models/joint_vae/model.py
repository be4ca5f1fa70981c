"""The joint multimodal VAE: one encoder and one decoder per modality around a shared latent z.

Each modality's encoder gives a Gaussian expert q(z | x_m); a fusion combines the experts of the
modalities a sample has (``mask``), so any subset can be given, and every modality is decoded
from z. ``forward`` returns the training loss (the negative ELBO of the chosen fusion) and its
parts; ``generate`` decodes any targets from any given subset; ``iwae`` is the importance-weighted
bound for evaluation.

Shapes: data[m] (B, *shape_m); masks[m] bool (B,); experts mu/logvar (M, B, D), mask (M, B).
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from synesthesia.modalities.base import Modality
from synesthesia.models.joint_vae import fusion as F
from synesthesia.models.joint_vae.config import JointVAEConfig


class ModelInputError(ValueError):
    """A batch does not fit the model; the message says what to give."""


# p(z) of conditional MCMC and resampling: N(0, I); the aggregate posterior of training data, as the
# mixture of its training rows' posteriors ("aggregate") or as a Gaussian mixture fitted to it ("gmm")
PRIORS = ("standard", "aggregate", "gmm")
# the priors fitted to training data, and the method that fits each
PRIOR_FITTERS = {"aggregate": "fit_aggregate_prior", "gmm": "fit_gmm_prior"}


class JointVAE(nn.Module):
    """Joint VAE over ``modalities`` (name -> :class:`Modality`). ``encoders`` / ``decoders`` may
    replace the modalities' default networks: an encoder maps x_m (B, *shape_m) to features
    (B, feature_dim_m); a decoder maps z (B, D) to the parameters the modality's likelihood reads
    (autoregressive modalities' decoders take ``(z, x)`` in training and offer ``generate(z)``)."""

    def __init__(self, modalities: Mapping[str, Modality], config: JointVAEConfig | None = None,
                 encoders: Mapping[str, nn.Module] | None = None,
                 decoders: Mapping[str, nn.Module] | None = None) -> None:
        super().__init__()
        if not modalities:
            raise ModelInputError("a joint VAE needs at least one modality")
        self.config = config or JointVAEConfig()
        self.modalities = dict(modalities)
        self.names = list(self.modalities)
        d = self.config.latent_dim
        encoders, decoders = dict(encoders or {}), dict(decoders or {})
        self.encoders = nn.ModuleDict({m: encoders.get(m) or mod.build_encoder()
                                       for m, mod in self.modalities.items()})
        self.heads = nn.ModuleDict({m: nn.Linear(mod.feature_dim, 2 * d) for m, mod in self.modalities.items()})
        self.decoders = nn.ModuleDict({m: decoders.get(m) or mod.build_decoder(d)
                                       for m, mod in self.modalities.items()})
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        # the aggregate posterior of training data as priors for conditional MCMC, set by
        # fit_aggregate_prior (prior="aggregate": (means, logvars) of the rows' posteriors) and
        # fit_gmm_prior (prior="gmm": (means, logvars, log_weights)); not saved with the weights
        self.aggregate_prior: tuple[torch.Tensor, torch.Tensor] | None = None
        self.gmm_prior: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.gmm_prior_scores: dict[int, float] = {}

    # -- encoding ----------------------------------------------------------------------------
    def experts(self, data: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Unimodal posteriors of every modality: mu, logvar (M, B, D) and mask (M, B).
        Modalities absent from ``data`` get mask False (their rows are zeros)."""
        unknown = [m for m in data if m not in self.modalities]
        if unknown:
            raise ModelInputError(f"this model has no modality {unknown}; it has {self.names}")
        if not data:
            raise ModelInputError("give at least one modality")
        b = len(next(iter(data.values())))
        ref = next(iter(data.values()))
        d = self.config.latent_dim
        mu = torch.zeros(len(self.names), b, d, device=ref.device)
        logvar = torch.zeros_like(mu)
        mask = torch.zeros(len(self.names), b, dtype=torch.bool, device=ref.device)
        for i, m in enumerate(self.names):
            if m not in data:
                continue
            h = self.heads[m](self.encoders[m](data[m]))                  # (B, 2D)
            mu_m, logvar_m = h.float().chunk(2, dim=-1)
            mu[i] = mu_m
            logvar[i] = logvar_m.clamp(self.config.logvar_min, self.config.logvar_max)
            mask[i] = True if masks is None or m not in masks else masks[m]
        return mu, logvar, mask

    def posterior(self, mu: torch.Tensor, logvar: torch.Tensor, mask: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """The Gaussian q(z | given) of the product fusions: PoE with the prior expert (poe) or
        of the given subset alone (mopoe). Not defined for moe (a mixture)."""
        return F.poe(mu, logvar, mask, prior=self.config.fusion == "poe")

    def sample_posterior(self, given: Mapping[str, torch.Tensor], generator: torch.Generator | None = None,
                         temperature: float = 1.0, masks: Mapping[str, torch.Tensor] | None = None
                         ) -> torch.Tensor:
        """z (B, D) ~ q(z | given) for the fusion."""
        mu, logvar, mask = self.experts(given, masks)
        if self.config.fusion == "moe":
            return F.mixture_sample(mu, logvar, mask, generator, temperature)[0]
        return F.reparameterise(*self.posterior(mu, logvar, mask), generator, temperature)

    # -- decoding ----------------------------------------------------------------------------
    def log_likelihoods(self, z: torch.Tensor, data: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """log p(x_m | z) for every modality in ``data``, each (B,), unweighted."""
        out = {}
        for m, x in data.items():
            mod, dec = self.modalities[m], self.decoders[m]
            params = dec(z, x) if mod.autoregressive else dec(z)
            out[m] = mod.log_likelihood(params.float(), x)
        return out

    def weighted_reconstruction(self, z: torch.Tensor, data: Mapping[str, torch.Tensor],
                                mask: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """sum_m w_m log p(x_m | z) over the modalities present per sample (B,), and the
        per-modality mean negative log-likelihoods for logging."""
        total = torch.zeros(len(z), device=z.device)
        parts = {}
        for m, ll in self.log_likelihoods(z, data).items():
            present = mask[self.names.index(m)].to(ll.dtype)
            total = total + self.modalities[m].likelihood_weight() * ll * present
            parts[m] = -(ll * present).sum() / present.sum().clamp_min(1.0)
        return total, parts

    # -- training objective ------------------------------------------------------------------
    def beta(self) -> float:
        warm = self.config.kl_warmup_steps
        ramp = 1.0 if warm <= 0 else min(1.0, float(self.steps) / warm)
        return self.config.beta * ramp

    def forward(self, data: Mapping[str, torch.Tensor],
                masks: Mapping[str, torch.Tensor] | None = None) -> dict:
        """Negative ELBO of the fusion, averaged over the batch: ``{"loss", "elbo", "kl",
        "beta", "rec": {m: mean -log p(x_m | z)}}``."""
        mu, logvar, mask = self.experts(data, masks)
        beta = self.beta()
        elbo, kl, rec = OBJECTIVES[self.config.fusion](self, data, mu, logvar, mask, beta)
        if self.training:
            self.steps += 1
        return {"loss": -elbo.mean(), "elbo": elbo.mean().detach(), "kl": kl.mean().detach(),
                "beta": torch.tensor(beta), "rec": {m: v.detach() for m, v in rec.items()}}

    # -- generation --------------------------------------------------------------------------
    def directions(self) -> list[tuple[tuple[str, ...], str]]:
        """Every (given subset, target) this model serves: any non-empty subset of the other
        modalities, for every target."""
        out = []
        for target in self.names:
            others = [m for m in self.names if m != target]
            for r in range(1, len(others) + 1):
                out += [(given, target) for given in itertools.combinations(others, r)]
        return out

    @torch.no_grad()
    def generate(self, given: Mapping[str, torch.Tensor], targets: Sequence[str],
                 generator: torch.Generator | None = None, temperature: float = 1.0,
                 batch_size: int | None = None, sampler: str | None = None, steps: int = 30,
                 warmup: int | None = None, chains: int = 1, proposals: int = 1, prior: str = "standard",
                 **sampler_options) -> dict[str, torch.Tensor]:
        """Decode ``targets`` from z ~ q(z | given), or from the prior when ``given`` is empty
        (then ``batch_size`` samples).

        ``sampler`` (``"mala"``, ``"hmc"``, ``"langevin"``; see :mod:`synesthesia.sampling`)
        instead samples the model's posterior p(z | given) by MCMC started from q: ``steps`` steps
        of which ``warmup`` (default half) adapt the step size, ``chains`` chains per input
        (the first chain's last state is decoded; diagnostics are left in ``last_sampling``).
        ``proposals`` > 1 draws that many z from q per input and keeps one by importance
        resampling (the equal-cost alternative to MCMC). ``prior`` is the p(z) of those two
        targets: ``"standard"`` N(0, I); ``"aggregate"``, the aggregate posterior of training
        data as the mixture of the rows' posteriors (:meth:`fit_aggregate_prior`); ``"gmm"``, a
        Gaussian mixture fitted to it (:meth:`fit_gmm_prior`)."""
        missing = [t for t in targets if t not in self.modalities]
        if missing:
            raise ModelInputError(f"this model cannot generate {missing}; it has {self.names}")
        self.last_sampling = None
        if sampler_options and sampler in (None, "ancestral"):
            raise ModelInputError(f"option(s) {', '.join(sampler_options)} need an MCMC sampler "
                                  "(sampler='mala' or 'hmc'); a joint VAE's generate takes sampler, steps, "
                                  "warmup, chains and proposals")
        if prior not in PRIORS:
            raise ModelInputError(f"prior {prior!r} unknown; choose from {', '.join(PRIORS)}")
        if prior != "standard":
            if sampler in (None, "ancestral") and proposals <= 1:
                raise ModelInputError(f"prior={prior!r} sets the target of MCMC or resampling; give sampler= "
                                      "(e.g. 'hmc') or proposals= as well")
            if self.fitted_prior(prior) is None:
                raise ModelInputError(f"prior={prior!r} needs the aggregate posterior of training data: call "
                                      f"model.{PRIOR_FITTERS[prior]}(data) (pipelines from synesthesia.load do it "
                                      "from the run's training data)")
        if not given:
            if not batch_size:
                raise ModelInputError("unconditional generation needs batch_size")
            device = next(self.parameters()).device
            z = temperature * torch.randn(batch_size, self.config.latent_dim, generator=generator, device=device)
        elif sampler not in (None, "ancestral"):
            z = self.sample_posterior_mcmc(given, sampler, steps, warmup, chains, generator,
                                           temperature, prior=prior, **sampler_options)
        elif proposals > 1:
            z = self.sample_posterior_resampled(given, proposals, generator, temperature, prior)
        else:
            z = self.sample_posterior(given, generator, temperature)
        return self.decode(z, targets, generator)

    def sample_posterior_mcmc(self, given: Mapping[str, torch.Tensor], sampler: str, steps: int = 30,
                              warmup: int | None = None, chains: int = 1,
                              generator: torch.Generator | None = None, temperature: float = 1.0,
                              prior: str = "standard", **sampler_options) -> torch.Tensor:
        """z (B, D) from MCMC on p(z) prod_m p(x_m | z)^w_m (the likelihoods weighted as in
        training; p(z) per ``prior``), started from q(z | given) and preconditioned by q's
        standard deviation."""
        from synesthesia.sampling import build_sampler, run_chains

        b = len(next(iter(given.values())))
        z0 = torch.stack([self.sample_posterior(given, generator, temperature) for _ in range(chains)])
        mu, logvar, mask = self.experts(given)
        scale = torch.exp(0.5 * F.poe(mu, logvar, mask, prior=True)[1])            # (B, D)
        result = run_chains(build_sampler(sampler, **sampler_options),
                            lambda z: self.log_joint(z, given, prior=prior), z0, steps,
                            steps // 2 if warmup is None else warmup, generator, scale=scale)
        self.last_sampling = {"sampler": sampler, "steps": steps, "chains": chains, "targets": b,
                              "prior": prior, **result.summary()}
        return result.z[0]

    def sample_posterior_resampled(self, given: Mapping[str, torch.Tensor], proposals: int,
                                   generator: torch.Generator | None = None,
                                   temperature: float = 1.0, prior: str = "standard") -> torch.Tensor:
        """Sampling-importance-resampling: ``proposals`` draws from q(z | given) per input,
        one kept with probability proportional to p(z) prod_m p(x_m | z)^w_m / q(z | given)."""
        mu, logvar, mask = self.experts(given)
        if self.config.fusion == "moe":
            zs = torch.stack([F.mixture_sample(mu, logvar, mask, generator, temperature)[0]
                              for _ in range(proposals)])                          # (K, B, D)
            log_q = F.mixture_log_prob(zs, mu, logvar, mask)
        else:
            pm, pl = self.posterior(mu, logvar, mask)
            zs = F.reparameterise(pm.expand(proposals, *pm.shape), pl.expand(proposals, *pl.shape),
                                  generator, temperature)
            log_q = F.gaussian_log_prob(zs, pm, pl)                                # (K, B)
        log_w = self.log_joint(zs, given, prior=prior) - log_q
        pick = torch.multinomial(torch.softmax(log_w.T, dim=-1), 1, generator=generator)[:, 0]
        return zs[pick, torch.arange(zs.shape[1], device=zs.device)]

    @torch.no_grad()
    def decode(self, z: torch.Tensor, targets: Sequence[str],
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """What each target shows for latents z (B, D)."""
        return {t: self.modalities[t].draw(self.decoders[t], z, generator) for t in targets}

    def log_joint(self, z: torch.Tensor, given: Mapping[str, torch.Tensor], weighted: bool = True,
                  prior: str = "standard") -> torch.Tensor:
        """Unnormalised log posterior log p(z) + sum_m w_m log p(x_m | z) for z (..., B, D): the
        MCMC target of conditional generation. With ``weighted`` the likelihoods carry the
        weights the model was trained with (its decoders are calibrated to that tempered
        posterior); without, the plain Bayes posterior. ``prior``: N(0, I) (``"standard"``) or
        the aggregate posterior of training data (``"aggregate"``, ``"gmm"``). Leading axes
        (chains) are flattened through the decoders."""
        lead = z.shape[:-2]
        flat = z.reshape(-1, z.shape[-1])
        reps = flat.shape[0] // next(iter(given.values())).shape[0]
        data = {m: x.repeat(reps, *([1] * (x.dim() - 1))) for m, x in given.items()}
        lls = self.log_likelihoods(flat, data)
        ll = sum((self.modalities[m].likelihood_weight() if weighted else 1.0) * v for m, v in lls.items())
        if prior == "standard":
            log_p = F.standard_log_prob(flat)
        else:
            fitted = self.fitted_prior(prior)
            if fitted is None:
                raise ModelInputError(f"no {prior} prior fitted; call {PRIOR_FITTERS[prior]}(data) first")
            log_p = F.diagonal_mixture_log_prob(flat, *fitted)
        return (log_p + ll).reshape(*lead, -1)

    def fitted_prior(self, prior: str) -> tuple | None:
        """The mixture parameters ``prior`` ("aggregate" or "gmm") was fitted to, or None."""
        if prior not in PRIOR_FITTERS:
            raise ModelInputError(f"prior {prior!r} is not fitted from data; fitted priors: "
                                  f"{', '.join(PRIOR_FITTERS)}")
        return self.aggregate_prior if prior == "aggregate" else self.gmm_prior

    def fit_prior(self, prior: str, data: Mapping[str, torch.Tensor],
                  masks: Mapping[str, torch.Tensor] | None = None) -> tuple:
        """Fit ``prior`` ("aggregate" or "gmm") to the aggregate posterior of ``data``."""
        self.fitted_prior(prior)                                   # unknown names raise here
        return getattr(self, PRIOR_FITTERS[prior])(data, masks)

    @torch.no_grad()
    def fit_aggregate_prior(self, data: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None = None,
                            batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep the aggregate posterior of ``data`` (rows with every modality it gives) as the
        prior of conditional MCMC with ``prior="aggregate"``: the uniform mixture of q(z | x_i)
        over the rows (the fused posterior of the modalities each row has, per ``masks``, for
        poe/mopoe; every present expert for moe). It is the density
        of the latents the decoders were trained on, where N(0, I) has holes the decoders never
        saw; the limit of the VampPrior (Tomczak & Welling, 2018) with every training point a
        pseudo-input. With narrow posteriors it is a density of spikes at the rows, which
        :meth:`fit_gmm_prior` smooths. Returns (means, logvars), (K, D) each."""
        self.aggregate_prior = self._row_posteriors(data, masks, batch_size)
        return self.aggregate_prior

    @torch.no_grad()
    def fit_gmm_prior(self, data: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None = None,
                      draws: int = 5, components: Sequence[int] = (1, 4, 16, 64, 256),
                      generator: torch.Generator | None = None, batch_size: int = 500
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keep a Gaussian mixture fitted to the aggregate posterior of ``data`` as the prior of
        conditional MCMC with ``prior="gmm"``: ``draws`` latents from each row's q(z | x_i) (as
        in :meth:`fit_aggregate_prior`), a diagonal mixture fitted to them by EM for each number
        of ``components``, the one whose held-out rows are likeliest refitted on all of them
        (ex-post density estimation, Ghosh et al. 2020). It keeps chains where the decoders
        were trained without pinning them to single training rows. Returns (means, logvars,
        log_weights)."""
        if draws < 1:
            raise ModelInputError(f"draws must be >= 1, got {draws}")
        means, logvars = self._row_posteriors(data, masks, batch_size)
        if len(means) < 2:
            raise ModelInputError("fit_gmm_prior needs at least two rows (some are held out to choose the "
                                  "number of components)")
        g = generator or torch.Generator().manual_seed(0)
        x = torch.cat([F.reparameterise(means.cpu(), logvars.cpu(), g) for _ in range(draws)])
        rows = torch.arange(len(means)).repeat(draws)
        params, scores = F.select_diagonal_gmm(x, rows, components, generator=g)
        self.gmm_prior_scores = scores              # held-out mean log-likelihood per number of components
        device = next(self.parameters()).device
        self.gmm_prior = tuple(t.to(device) for t in params)
        return self.gmm_prior

    def _row_posteriors(self, data, masks, batch_size) -> tuple[torch.Tensor, torch.Tensor]:
        """(means, logvars) of q(z | x_i) for every row of ``data`` (every present expert for moe)."""
        n = len(next(iter(data.values())))
        if n < 1:
            raise ModelInputError("fitting a prior to the aggregate posterior needs at least one sample")
        device = next(self.parameters()).device
        means, logvars = [], []
        for lo in range(0, n, batch_size):
            sub = {m: x[lo:lo + batch_size].to(device) for m, x in data.items() if m in self.modalities}
            sub_masks = {m: x[lo:lo + batch_size].to(device) for m, x in (masks or {}).items() if m in sub}
            mu, logvar, mask = self.experts(sub, sub_masks)
            if self.config.fusion == "moe":
                means.append(mu[mask])
                logvars.append(logvar[mask])
            else:
                pm, pl = self.posterior(mu, logvar, mask)
                means.append(pm)
                logvars.append(pl)
        return torch.cat(means).float(), torch.cat(logvars).float()

    # -- evaluation --------------------------------------------------------------------------
    @torch.no_grad()
    def iwae(self, data: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None = None,
             k: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance-weighted lower bound on log p(x_present) (Burda et al., 2016), (B,), with
        the fusion's posterior of the present modalities as proposal and unit likelihood weights."""
        k = k or self.config.iw_samples
        mu, logvar, mask = self.experts(data, masks)
        if self.config.fusion == "moe":
            zs = [F.mixture_sample(mu, logvar, mask, generator)[0] for _ in range(k)]
            z = torch.stack(zs)                                             # (K, B, D)
            log_q = F.mixture_log_prob(z, mu, logvar, mask)
        else:
            pm, pl = self.posterior(mu, logvar, mask)
            z = F.reparameterise(pm.expand(k, *pm.shape), pl.expand(k, *pl.shape), generator)
            log_q = F.gaussian_log_prob(z, pm, pl)                          # (K, B)
        log_w = F.standard_log_prob(z) - log_q
        for i in range(k):
            lls = self.log_likelihoods(z[i], data)
            log_w[i] = log_w[i] + sum(ll * mask[self.names.index(m)] for m, ll in lls.items())
        return torch.logsumexp(log_w, 0) - math.log(k)


# ---------------------------------------------------------------------------------------------
# objectives: (model, data, mu, logvar, mask, beta) -> (elbo (B,), kl (B,), rec {m: scalar})

Objective = Callable[..., tuple[torch.Tensor, torch.Tensor, dict]]


def elbo_poe(model: JointVAE, data, mu, logvar, mask, beta):
    """MVAE: the joint ELBO with the product of the present experts and the prior, plus (with
    ``unimodal_elbos``) each modality's own ELBO, reconstructing that modality alone."""
    pm, pl = F.poe(mu, logvar, mask, prior=True)
    rec_sum, rec = model.weighted_reconstruction(F.reparameterise(pm, pl), data, mask)
    kl = F.gaussian_kl(pm, pl)
    elbo = rec_sum - beta * kl
    if model.config.unimodal_elbos and len(model.names) > 1:
        for i, m in enumerate(model.names):
            if m not in data:
                continue
            only = torch.zeros_like(mask)
            only[i] = mask[i]
            um, ul = F.poe(mu, logvar, only, prior=True)
            r, _ = model.weighted_reconstruction(F.reparameterise(um, ul), {m: data[m]}, only)
            elbo = elbo + (r - beta * F.gaussian_kl(um, ul)) * mask[i]
    return elbo, kl, rec


def elbo_moe(model: JointVAE, data, mu, logvar, mask, beta):
    """MMVAE with stratified sampling: for each present expert m, z_m ~ q_m reconstructs every
    present modality; the KL of the mixture is estimated by log q_mix(z_m) - log p(z_m)."""
    n = mask.sum(0).clamp_min(1).to(mu.dtype)                               # (B,)
    elbo = torch.zeros(mu.shape[1], device=mu.device)
    kl = torch.zeros_like(elbo)
    rec_all: dict[str, torch.Tensor] = {}
    for i in range(len(model.names)):
        if not bool(mask[i].any()):
            continue
        z = F.reparameterise(mu[i], logvar[i])
        r, parts = model.weighted_reconstruction(z, data, mask)
        k = F.mixture_log_prob(z, mu, logvar, mask) - F.standard_log_prob(z)
        w = mask[i].to(mu.dtype) / n
        elbo = elbo + w * (r - beta * k)
        kl = kl + w * k
        for m, v in parts.items():
            rec_all.setdefault(m, []).append(v)
    return elbo, kl, {m: torch.stack(v).mean() for m, v in rec_all.items()}


def elbo_mopoe(model: JointVAE, data, mu, logvar, mask, beta):
    """MoPoE: each sample draws a non-empty subset of its present modalities uniformly; z from
    the product of that subset's experts reconstructs every present modality. In expectation this
    is the mean of the subsets' ELBOs, a lower bound on the MoPoE ELBO (the mixture's KL is at
    most the mean of its components' KLs)."""
    chosen = F.random_subsets(mask)                                         # (M, B)
    pm, pl = F.poe(mu, logvar, chosen, prior=False)
    rec_sum, rec = model.weighted_reconstruction(F.reparameterise(pm, pl), data, mask)
    kl = F.gaussian_kl(pm, pl)
    return rec_sum - beta * kl, kl, rec


OBJECTIVES: dict[str, Objective] = {"poe": elbo_poe, "moe": elbo_moe, "mopoe": elbo_mopoe}
