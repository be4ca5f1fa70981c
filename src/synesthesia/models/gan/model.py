"""The conditional GAN: for each target modality (image, video, audio) a generator and a discriminator
conditioned on any subset of the other modalities through their encoders.

Papers followed: DF-GAN (Tao et al., 2022) for the generator's deep fusion of the condition;
SNGAN (Miyato et al., 2018) for spectral normalisation and the hinge loss; the projection
discriminator (Miyato & Koyama, 2018); matching-aware discrimination (Reed et al., 2016, GAN-CLS:
a real image with a wrong condition counts as fake); the image-condition contrastive loss of
XMC-GAN (Zhang et al., 2021); mode seeking (MSGAN, Mao et al., 2019, in the bounded form of
DSGAN, Yang et al., 2019: -min(|G(c,z1) - G(c,z2)| / |z1 - z2|, tau)); DiffAugment (Zhao et al.,
2020); frame-sampled video training (StyleGAN-V, Skorokhodov et al., 2022; ``sampled_frames``);
and an exponential moving average of the generator for sampling (Yazici et al., 2019; Karras et
al., 2018).

Training is adversarial (``training_kind = "adversarial"``): the trainer calls :meth:`draw` once
per batch, then :meth:`discriminator_loss` and :meth:`generator_loss` with that draw, and
:meth:`update_ema` after the generator's step. The condition encoder is trained by the
discriminator's losses; the generator reads its output (detached).

Shapes: data[m] (B, *shape_m); masks[m] bool (B,); condition vectors c (B, cond_dim); noise z
(B, noise_dim); images (B, 3, S, S) and videos (B, T, 3, S, S) in [0, 1]; sounds' log-mel
spectrograms (B, M, T) in [-1, 1] (DiffAugment works on pictures: leave it off for sounds).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from synesthesia.config import ConfigError
from synesthesia.errors import ModelInputError
from synesthesia.modalities.base import Modality
from synesthesia.modalities.nets import stage_count
from synesthesia.models.gan.augment import diff_augment
from synesthesia.models.gan.bank import ConditionBank
from synesthesia.models.gan.conditions import Draw, condition_fits, resolve_targets
from synesthesia.models.gan.config import GANConfig
from synesthesia.models.gan.networks import (
    LAYOUTS,
    ConditionEncoder,
    Discriminator,
    FrameDiscriminator,
    FrameGenerator,
    Generator,
    Layout,
)


class ConditionalGAN(nn.Module):
    """Conditional GAN over ``modalities`` (name -> :class:`Modality`); see the module docstring."""

    training_kind = "adversarial"

    def __init__(self, modalities: Mapping[str, Modality], config: GANConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or GANConfig()
        self.modalities = dict(modalities)
        self.targets, self.conditions = resolve_targets(self.modalities, cfg)
        self.policies = cfg.augment_policies()
        self.conditioners = nn.ModuleDict()
        self.generators = nn.ModuleDict()
        self.discriminators = nn.ModuleDict()
        self.sampled: dict[str, int] = {}                 # frame-sampled targets: frames per clip seen
        for t in self.targets:
            layout = LAYOUTS[t](self.modalities[t])
            self.conditioners[t] = ConditionEncoder({m: self.modalities[m] for m in self.conditions[t]},
                                                    cfg.cond_dim)
            if layout.dims == 3 and cfg.sampled_frames:
                frames, h, w = layout.spatial
                if cfg.sampled_frames > frames:
                    raise ConfigError(f"model.sampled_frames is {cfg.sampled_frames}, but {t} clips have "
                                      f"{frames} frames")
                image = Layout(2, layout.channels, (h, w), ((2, 2),) * stage_count(h))
                self.sampled[t] = cfg.sampled_frames
                self.generators[t] = FrameGenerator(frames, image, cfg.noise_dim, cfg.cond_dim, cfg.w_dim,
                                                    cfg.g_channels, cfg.max_channels, cfg.g_residual)
                self.discriminators[t] = FrameDiscriminator(frames, cfg.sampled_frames, image, cfg.cond_dim,
                                                            cfg.d_channels, cfg.max_channels,
                                                            residual=cfg.d_residual, sn=cfg.spectral_norm)
                continue
            self.generators[t] = Generator(layout, cfg.noise_dim, cfg.cond_dim, cfg.w_dim, cfg.g_channels,
                                           cfg.max_channels, cfg.g_residual)
            self.discriminators[t] = Discriminator(layout, cfg.cond_dim, cfg.d_channels, cfg.max_channels,
                                                   residual=cfg.d_residual, sn=cfg.spectral_norm)
        # the sampling path (condition encoder + generator), averaged over training steps
        self.ema = nn.ModuleDict({t: nn.ModuleDict({"conditioner": copy.deepcopy(self.conditioners[t]),
                                                    "generator": copy.deepcopy(self.generators[t])})
                                  for t in self.targets} if cfg.ema_decay > 0 else {})
        self.ema.requires_grad_(False)
        self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))
        bank_names = list(dict.fromkeys(m for t in self.targets for m in self.conditions[t]))
        self.bank = ConditionBank(bank_names, cfg.bank_size)

    # -- parameters per player ---------------------------------------------------------------
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The generator's parameters, and the discriminator's (which include the condition
        encoders: they learn from the discriminator's losses)."""
        return {"generator": list(self.generators.parameters()),
                "discriminator": list(self.discriminators.parameters()) + list(self.conditioners.parameters())}

    # -- one batch's draw ----------------------------------------------------------------------
    def draw(self, data: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None = None) -> Draw:
        """Conditions (with dropout while training), their vectors and generated samples for every
        target the batch has; remembers the conditions in the bank while training."""
        masks = dict(masks or {})
        missing = [t for t in self.targets if t not in data]
        if len(missing) == len(self.targets):
            raise ModelInputError(f"the batch has none of the targets {self.targets}; it has {list(data)}")
        if self.training:
            self.bank.add({m: data[m] for m in self.bank.names if m in data}, masks)
        out = Draw()
        for t in self.targets:
            if t not in data:
                continue
            rows = None
            if t in masks and not bool(masks[t].all()):
                rows = masks[t].nonzero()[:, 0]
                if len(rows) < 2:
                    continue
            pick = (lambda x: x) if rows is None else (lambda x, rows=rows: x[rows])
            given = {m: pick(data[m]) for m in self.conditions[t] if m in data}
            if not given:
                raise ModelInputError(f"the batch has no condition for {t} (one of {self.conditions[t]})")
            b = len(next(iter(given.values())))
            present = {m: pick(masks[m]) if m in masks else torch.ones(b, dtype=torch.bool, device=x.device)
                       for m, x in given.items()}
            if self.training and self.config.condition_dropout > 0 and len(self.conditions[t]) > 1:
                present = {m: p & (torch.rand(b, device=p.device) >= self.config.condition_dropout)
                           for m, p in present.items()}
            cond = self.conditioners[t](given, present)                         # (B, cond_dim)
            z = torch.randn(b, self.config.noise_dim, device=cond.device)
            out.rows[t], out.given[t], out.present[t], out.cond[t], out.z[t] = rows, given, present, cond, z
            if t in self.sampled:                        # k distinct frames per clip, in time order
                frames = self.modalities[t].shape[0]
                out.times[t] = torch.rand(b, frames, device=cond.device).argsort(1)[:, :self.sampled[t]].sort(1).values
            out.fake[t] = self._render(t, z, cond.detach(), out.times.get(t))  # (B, *shape_t) or (B, K, ...)
            if self.config.drop_false_negatives:
                out.fits[t] = condition_fits(given, present, self.modalities)
            if self.config.mode_seeking_weight > 0:
                k = max(1, b // 4)
                z2 = torch.randn(k, self.config.noise_dim, device=cond.device)
                times = out.times.get(t)
                out.pairs[t] = (z2, self._render(t, z2, cond[:k].detach(), None if times is None else times[:k]))
        return out

    def _render(self, t: str, z: torch.Tensor, c: torch.Tensor, times: torch.Tensor | None) -> torch.Tensor:
        return self.generators[t](z, c) if times is None else self.generators[t](z, c, times)

    def _real(self, data: Mapping[str, torch.Tensor], draw: Draw, t: str) -> torch.Tensor:
        rows = draw.rows[t]
        x = data[t] if rows is None else data[t][rows]
        times = draw.times.get(t)
        if times is not None:                                                   # the same frames as the fakes
            x = x[torch.arange(len(x), device=x.device)[:, None], times]        # (B, K, ...)
        return x

    def _features(self, t: str, x: torch.Tensor, draw: Draw, copies: int = 1) -> torch.Tensor:
        """The discriminator's features of (augmented) ``x``; frame-sampled clips come with their
        times (``copies`` stacked batches share them)."""
        d, times = self.discriminators[t], draw.times.get(t)
        x = self._augment(x)
        return d.features(x) if times is None else d.features(x, times.repeat(copies, 1))

    @staticmethod
    def _drop_fitting(logits: torch.Tensor, draw: Draw, t: str) -> torch.Tensor:
        """Image-condition logits (B, B) without the off-diagonal pairs whose condition fits the
        image (``drop_false_negatives``)."""
        if t not in draw.fits:
            return logits
        off = draw.fits[t].T & ~torch.eye(len(logits), dtype=torch.bool, device=logits.device)
        return logits.masked_fill(off, float("-inf"))

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.policies) if self.policies else x

    # -- losses --------------------------------------------------------------------------------
    def discriminator_loss(self, data: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None = None,
                           draw: Draw | None = None) -> dict:
        """Hinge loss on (real, right condition) vs (generated, right condition) and (real, wrong
        condition), plus the contrastive loss of real images against the batch's conditions.
        Returns ``{"loss", "<target>": {parts}}``."""
        draw = draw or self.draw(data, masks)
        cfg, total, parts = self.config, torch.zeros((), device=self.ema_updates.device), {}
        for t, cond in draw.cond.items():
            d = self.discriminators[t]
            real, fake = self._real(data, draw, t), draw.fake[t].detach()
            b = len(real)
            phi = self._features(t, torch.cat([real, fake]), draw, copies=2)   # (2B, F)
            phi_real, phi_fake = phi[:b], phi[b:]
            s_real, s_fake = d.score(phi_real, cond), d.score(phi_fake, cond)   # (B,)
            s_wrong = d.score(phi_real, cond.roll(1, dims=0))                   # real with another row's condition
            wrong = torch.ones(b, device=real.device)
            if t in draw.fits:                                                  # row j-1's condition may fit j
                wrong = (~draw.fits[t].roll(1, dims=0).diagonal()).float()
            w = cfg.mismatch_weight
            adv = (F.relu(1 - s_real).mean() + (1 - w) * F.relu(1 + s_fake).mean()
                   + w * (F.relu(1 + s_wrong) * wrong).sum() / wrong.sum().clamp_min(1.0))
            loss, part = adv, {"adversarial": adv.detach(), "real": s_real.detach().mean(),
                               "fake": s_fake.detach().mean(), "wrong": s_wrong.detach().mean()}
            if cfg.contrastive_weight > 0:
                logits = self._drop_fitting(d.match_logits(phi_real, cond, cfg.contrastive_temperature),
                                            draw, t)                            # (B images, B conditions)
                labels = torch.arange(b, device=logits.device)
                con = 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
                loss = loss + cfg.contrastive_weight * con
                part.update(contrastive=con.detach(), match_accuracy=(logits.argmax(1) == labels).float().mean())
            total = total + loss
            parts[t] = part
        return {"loss": total, **parts}

    def generator_loss(self, data: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None = None,
                       draw: Draw | None = None) -> dict:
        """-D(G(z, c), c), plus the contrastive loss of generated samples against the batch's
        conditions and the mode-seeking term. The condition vectors are recomputed (without
        gradient) by the encoder as the discriminator's step left it."""
        draw = draw or self.draw(data, masks)
        cfg, total, parts = self.config, torch.zeros((), device=self.ema_updates.device), {}
        for t, fake in draw.fake.items():
            d = self.discriminators[t]
            with torch.no_grad():
                cond = self.conditioners[t](draw.given[t], draw.present[t])
            phi = self._features(t, fake, draw)
            adv = -d.score(phi, cond).mean()
            loss, part = adv, {"adversarial": adv.detach()}
            if cfg.contrastive_weight > 0:
                logits = self._drop_fitting(d.match_logits(phi, cond, cfg.contrastive_temperature), draw, t)
                labels = torch.arange(len(fake), device=logits.device)
                con = F.cross_entropy(logits, labels)
                loss = loss + cfg.contrastive_weight * con
                part.update(contrastive=con.detach(), match_accuracy=(logits.argmax(1) == labels).float().mean())
            if t in draw.pairs:
                z2, fake2 = draw.pairs[t]
                k = len(z2)
                ratio = (fake[:k] - fake2).abs().flatten(1).mean(1) / (draw.z[t][:k] - z2).abs().mean(1)
                ms = -ratio.clamp(max=cfg.mode_seeking_tau).mean()              # bounded, as DSGAN's
                loss = loss + cfg.mode_seeking_weight * ms
                part["mode_seeking"] = ms.detach()
            total = total + loss
            parts[t] = part
        return {"loss": total, **parts}

    def forward(self, data: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None = None) -> dict:
        """Both players' losses on one batch (for validation): ``{"loss": d + g, "discriminator":
        {...}, "generator": {...}}``."""
        draw = self.draw(data, masks)
        d, g = self.discriminator_loss(data, masks, draw), self.generator_loss(data, masks, draw)
        return {"loss": d["loss"] + g["loss"], "discriminator": d, "generator": g}

    # -- moving average of the sampling path ----------------------------------------------------
    @torch.no_grad()
    def update_ema(self) -> float:
        """Move the averaged condition encoders and generators towards the trained ones; returns
        the decay used."""
        if not len(self.ema):
            return 0.0
        n = int(self.ema_updates)
        decay = min(self.config.ema_decay, (1 + n) / (10 + n))
        for t in self.targets:
            for online, avg in ((self.conditioners[t], self.ema[t]["conditioner"]),
                                (self.generators[t], self.ema[t]["generator"])):
                for p_avg, p in zip(avg.parameters(), online.parameters()):
                    p_avg.lerp_(p.detach(), 1 - decay)
                for b_avg, b in zip(avg.buffers(), online.buffers()):
                    b_avg.copy_(b)
        self.ema_updates += 1
        return decay

    def sampler(self, target: str, ema: bool | None = None) -> tuple[nn.Module, nn.Module]:
        """The (condition encoder, generator) that sampling uses: the averaged ones unless
        ``ema=False`` or the model keeps no average."""
        if (ema is None or ema) and len(self.ema):
            return self.ema[target]["conditioner"], self.ema[target]["generator"]
        return self.conditioners[target], self.generators[target]

    # -- generation ----------------------------------------------------------------------------
    def directions(self) -> list[tuple[tuple[str, ...], str]]:
        """(given subset, target) pairs served: every non-empty subset of a target's conditions
        when conditions can be dropped (``condition_dropout`` > 0 or a single condition), else the
        full set."""
        out = []
        for t in self.targets:
            conds = self.conditions[t]
            sizes = range(1, len(conds) + 1) if self.config.condition_dropout > 0 else [len(conds)]
            out += [(given, t) for r in sizes for given in itertools.combinations(conds, r)]
        return out

    def _check_request(self, given: Mapping[str, torch.Tensor], targets: Sequence[str]) -> None:
        served = ", ".join(f"{'+'.join(g)}->{t}" for g, t in self.directions())
        for t in targets:
            if t not in self.targets and (given or t not in self.bank.names):
                raise ModelInputError(f"this GAN cannot generate {t!r} from {sorted(given) or 'nothing'}; "
                                      f"it serves {served}")
        for t in targets:
            extra = [m for m in given if m not in self.conditions.get(t, [])]
            if t in self.targets and extra:
                raise ModelInputError(f"{t} is not conditioned on {extra} in this GAN; it serves {served}")

    @torch.no_grad()
    def generate(self, given: Mapping[str, torch.Tensor], targets: Sequence[str],
                 generator: torch.Generator | None = None, temperature: float = 1.0,
                 batch_size: int | None = None, ema: bool | None = None, **options) -> dict[str, torch.Tensor]:
        """Samples of ``targets`` for the conditions in ``given``; ``temperature`` scales the noise
        z. With ``given`` empty, ``batch_size`` conditions are drawn from the bank of training
        conditions (a condition modality among ``targets`` returns them), or, before any
        training, the null embeddings are used. ``ema=False`` samples with the online generator."""
        if options:
            raise ModelInputError(f"unknown generation option(s) {sorted(options)}; the GAN takes ema=")
        self._check_request(given, targets)
        device = self.ema_updates.device
        present = None
        if given:
            b = len(next(iter(given.values())))
        elif not batch_size:
            raise ModelInputError("unconditional generation needs batch_size")
        else:
            b = batch_size
            if self.bank.filled:
                given, present = self.bank.sample(b, generator)
            elif any(t not in self.targets for t in targets):
                raise ModelInputError("the condition bank is empty (the model is untrained); "
                                      f"give conditions to generate {list(targets)}")
        # one draw from ``generator`` seeds the noise, so the bank rows drawn above do not depend
        # on which targets are asked for (joint samples asked one modality at a time agree)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=None if generator is None else generator.device))
        noise = torch.Generator(device=device).manual_seed(seed)
        out = {}
        for t in targets:
            if t not in self.targets:
                out[t] = given[t]
                continue
            conditioner, gen = self.sampler(t, ema)
            conds = {m: x.to(device) for m, x in given.items() if m in self.conditions[t]}
            mask = None if present is None else {m: p.to(device) for m, p in present.items() if m in conds}
            c = conditioner(conds, mask, batch_size=b)                          # (B, cond_dim)
            z = temperature * torch.randn(b, self.config.noise_dim, generator=noise, device=device)
            out[t] = gen(z, c).float()
        return out

    @torch.no_grad()
    def sample_diversity(self, data: Mapping[str, torch.Tensor], n_conditions: int = 8, per: int = 4,
                         seed: int = 0) -> dict[str, float]:
        """Per target: the mean absolute difference between samples drawn for the same condition
        (``per`` samples for each of the first ``n_conditions`` rows), with the averaged
        generator — what collapses when a generator ignores its noise."""
        out = {}
        g = torch.Generator(device=self.ema_updates.device).manual_seed(seed)
        for t in self.targets:
            given = {m: x[:n_conditions].repeat_interleave(per, 0) for m, x in data.items()
                     if m in self.conditions[t]}
            if not given:
                continue
            x = self.generate(given, [t], generator=g)[t]                       # (K * per, *shape)
            x = x.reshape(-1, per, x[0].numel())
            diff = (x[:, :, None] - x[:, None, :]).abs().mean(-1)               # (K, per, per)
            out[t] = float(diff.sum((1, 2)).mean() / (per * (per - 1)))
        return out
