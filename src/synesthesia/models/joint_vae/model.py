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
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from synesthesia.errors import ModelInputError
from synesthesia.modalities.base import Modality
from synesthesia.models.joint_vae import fusion as F
from synesthesia.models.joint_vae.config import JointVAEConfig


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

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

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
                 batch_size: int | None = None) -> dict[str, torch.Tensor]:
        """Decode ``targets`` from z ~ q(z | given), or from N(0, I) when ``given`` is empty (then
        ``batch_size`` samples). Other latents (MCMC, fitted priors: :mod:`synesthesia.sampling`)
        are decoded with :meth:`decode`."""
        missing = [t for t in targets if t not in self.modalities]
        if missing:
            raise ModelInputError(f"this model cannot generate {missing}; it has {self.names}")
        if not given:
            if not batch_size:
                raise ModelInputError("unconditional generation needs batch_size")
            device = next(self.parameters()).device
            z = temperature * torch.randn(batch_size, self.config.latent_dim, generator=generator, device=device)
        else:
            z = self.sample_posterior(given, generator, temperature)
        return self.decode(z, targets, generator)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, targets: Sequence[str],
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """What each target shows for latents z (B, D)."""
        return {t: self.modalities[t].draw(self.decoders[t], z, generator) for t in targets}

    # -- the latent model's densities (what samplers and fitted priors use) ---------------------
    def posterior_log_prob(self, z: torch.Tensor, given: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """log q(z | given) for z (..., B, D) -> (..., B): the fusion's Gaussian, or the mixture of
        the experts for moe."""
        mu, logvar, mask = self.experts(given)
        if self.config.fusion == "moe":
            return F.mixture_log_prob(z, mu, logvar, mask)
        pm, pl = self.posterior(mu, logvar, mask)
        return F.gaussian_log_prob(z, pm, pl)

    def posterior_scale(self, given: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(B, D) standard deviations of the product of the given experts and N(0, I): the scale
        samplers precondition with."""
        mu, logvar, mask = self.experts(given)
        return torch.exp(0.5 * F.poe(mu, logvar, mask, prior=True)[1])

    def weighted_log_likelihood(self, z: torch.Tensor, given: Mapping[str, torch.Tensor],
                                weighted: bool = True) -> torch.Tensor:
        """sum_m w_m log p(x_m | z) for z (N, D), N a multiple of the B rows of ``given`` (rows
        repeated in order): the likelihood part of the posterior p(z | given). With ``weighted``
        the likelihoods carry the weights the model was trained with (its decoders are calibrated
        to that tempered posterior); without, the plain Bayes posterior."""
        reps = z.shape[0] // next(iter(given.values())).shape[0]
        data = {m: x.repeat(reps, *([1] * (x.dim() - 1))) for m, x in given.items()}
        lls = self.log_likelihoods(z, data)
        return sum((self.modalities[m].likelihood_weight() if weighted else 1.0) * v for m, v in lls.items())

    @torch.no_grad()
    def row_posteriors(self, data: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None = None,
                       batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """(means, logvars) of q(z | x_i) for every row of ``data`` (the fused posterior of the
        modalities each row has, per ``masks``; every present expert for moe): the components of
        the aggregate posterior."""
        n = len(next(iter(data.values())))
        if n < 1:
            raise ModelInputError("the aggregate posterior needs at least one sample")
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
