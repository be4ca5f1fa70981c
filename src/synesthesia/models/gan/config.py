"""Configuration of the conditional GAN."""

from __future__ import annotations

from dataclasses import dataclass, field


from synesthesia.config import ConfigError, ModelConfig

# DiffAugment policies (Zhao et al., 2020); see synesthesia.models.gan.augment
AUGMENT_POLICIES = ("color", "translation", "cutout")


@dataclass
class GANConfig(ModelConfig):
    """``targets``: the modalities generated (image and/or video; default every one of them the
    model has). ``conditions``: target -> the modalities it is conditioned on (default: every other
    modality); any non-empty subset of them can be given when ``condition_dropout`` > 0 (a dropped
    or missing condition is replaced by its learned null embedding).

    Networks: ``noise_dim`` (z), ``cond_dim`` (the fused condition vector), ``w_dim`` (the
    generator's mapping of z and the condition), ``g_channels`` / ``d_channels`` (widths at full
    resolution, doubling per stage down to ``max_channels``), ``g_residual`` / ``d_residual`` (a
    3x3 residual block per stage), ``spectral_norm`` on the discriminator (SNGAN).

    Losses (all hinge): ``mismatch_weight`` is the share of the discriminator's "fake" term given
    to real images with a wrong condition (matching-aware, Reed et al., 2016; 0 turns it off);
    ``contrastive_weight`` weighs the image-condition InfoNCE term (XMC-GAN, Zhang et al., 2021)
    in both players' losses at ``contrastive_temperature``; ``mode_seeking_weight`` the mode-seeking
    term (MSGAN, Mao et al., 2019), bounded as in DSGAN (Yang et al., 2019): -min(mean|G(c, z1) -
    G(c, z2)| / mean|z1 - z2|, ``mode_seeking_tau``), so samples for one condition are pushed apart
    only up to about ``mode_seeking_tau`` (in [0, 1] pixel units per unit of noise).
    ``drop_false_negatives``: a condition that another row's sample also fits is not used as a
    negative for that row in the contrastive and mismatch terms. A text condition fits a sample
    when every word of it is in the sample's own caption (a partial caption such as "a red circle"
    fits "a small red circle at the top left"); a missing or dropped condition fits everything;
    other modalities fit only their own row. Without it, partial captions teach both players to
    make an image match its caption *and no other*, which pushes the attributes a caption leaves
    free towards values that set it apart from the batch's other captions (false-negative
    cancellation, Huynh et al., 2022).
    ``sampled_frames``: 0 trains video targets with 3-D towers on whole clips; k >= 2 uses the
    frame-sampled networks instead (StyleGAN-V, Skorokhodov et al., 2022): a generator of one
    frame at a time given its time, trained on k random frames of each clip, and a discriminator
    that reads those k frames and their times together. A training step then costs about k images
    rather than a clip; sampling renders every frame.
    ``diffaugment``: comma-separated DiffAugment policies applied to every image the discriminator
    sees (empty: off). Colour augmentation blurs colour conditions; prefer ``translation`` and
    ``cutout`` for conditional data.

    Training: Adam with ``betas``, the discriminator's learning rate is ``d_lr_scale`` times
    ``train.lr`` (two time-scale update rule). ``ema_decay`` > 0 keeps an exponential moving
    average of the generator and its condition encoder, which is what sampling uses (with a
    warm-up: the decay is min(ema_decay, (1 + n) / (10 + n)) after n updates). ``bank_size``
    training conditions are remembered for unconditional sampling (p(c) p(x | c)).
    ``diversity_every`` steps the trainer measures the spread of samples drawn for one
    condition and warns when it falls below ``collapse_fraction`` of its best value so far."""

    targets: list[str] | None = None
    conditions: dict[str, list[str]] | None = None
    noise_dim: int = 64
    cond_dim: int = 128
    w_dim: int = 256
    g_channels: int = 32
    d_channels: int = 32
    max_channels: int = 256
    g_residual: bool = True
    d_residual: bool = True
    spectral_norm: bool = True
    mismatch_weight: float = 0.5
    contrastive_weight: float = 1.0
    contrastive_temperature: float = 0.1
    mode_seeking_weight: float = 0.0
    mode_seeking_tau: float = 0.1
    drop_false_negatives: bool = False
    condition_dropout: float = 0.2
    sampled_frames: int = 0
    diffaugment: str = ""
    betas: list[float] = field(default_factory=lambda: [0.0, 0.9])
    d_lr_scale: float = 1.0
    ema_decay: float = 0.999
    bank_size: int = 1024
    diversity_every: int = 100
    collapse_fraction: float = 0.3

    def __post_init__(self) -> None:
        for name in ("noise_dim", "cond_dim", "w_dim", "g_channels", "d_channels", "max_channels"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"model.{name} must be positive, got {getattr(self, name)}")
        for name in ("mismatch_weight",):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"model.{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.condition_dropout < 1.0:
            raise ConfigError(f"model.condition_dropout must be in [0, 1), got {self.condition_dropout}")
        for name in ("contrastive_weight", "mode_seeking_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"model.{name} must be >= 0, got {getattr(self, name)}")
        if self.mode_seeking_tau <= 0:
            raise ConfigError(f"model.mode_seeking_tau must be positive, got {self.mode_seeking_tau}")
        if self.contrastive_temperature <= 0:
            raise ConfigError(f"model.contrastive_temperature must be positive, got {self.contrastive_temperature}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"model.ema_decay must be in [0, 1) (0 turns the average off), got {self.ema_decay}")
        try:
            self.betas = [float(b) for b in self.betas]
        except (TypeError, ValueError):
            raise ConfigError(f"model.betas must be two numbers in [0, 1), got {self.betas}") from None
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"model.betas must be two numbers in [0, 1), got {self.betas}")
        if self.sampled_frames < 0 or self.sampled_frames == 1:
            raise ConfigError(f"model.sampled_frames must be 0 (whole clips) or at least 2 (frames seen together "
                              f"per clip, to see motion), got {self.sampled_frames}")
        if self.d_lr_scale <= 0:
            raise ConfigError(f"model.d_lr_scale must be positive, got {self.d_lr_scale}")
        if self.bank_size < 0 or self.diversity_every < 0:
            raise ConfigError("model.bank_size and model.diversity_every must be >= 0")
        if not 0.0 <= self.collapse_fraction < 1.0:
            raise ConfigError(f"model.collapse_fraction must be in [0, 1), got {self.collapse_fraction}")
        unknown = [p for p in self.augment_policies() if p not in AUGMENT_POLICIES]
        if unknown:
            raise ConfigError(f"model.diffaugment names unknown policies {unknown}; choose from "
                              f"{', '.join(AUGMENT_POLICIES)} (comma-separated)")
        if self.targets is not None and not self.targets:
            raise ConfigError("model.targets is empty; name image and/or video (or leave it out)")

    def augment_policies(self) -> list[str]:
        return [p.strip() for p in str(self.diffaugment or "").split(",") if p.strip()]
