"""Configuration of the conditional GAN."""

from __future__ import annotations

from dataclasses import dataclass, field

from synesthesia.config import ConfigError, Section

# DiffAugment policies (Zhao et al., 2020); see synesthesia.models.gan.augment
AUGMENT_POLICIES = ("color", "translation", "cutout")


@dataclass
class GANConfig(Section):
    """The conditional GAN's options; docs/gan.md explains the losses and the networks."""

    targets: list[str] | None = None               # modalities generated: image, video and/or audio (default: the run's image and video)
    conditions: dict[str, list[str]] | None = None  # target -> modalities it is conditioned on (default: all the others)
    noise_dim: int = 64                            # size of the noise z
    cond_dim: int = 128                            # size of the fused condition vector
    w_dim: int = 256                               # size of the generator's mapping of (z, condition)
    g_channels: int = 32                           # generator width at full resolution (doubling per stage)
    d_channels: int = 32                           # discriminator width at full resolution (doubling per stage)
    max_channels: int = 256                        # cap on the widths of both networks
    g_residual: bool = True                        # a 3x3 residual block per generator stage
    d_residual: bool = True                        # a 3x3 residual block per discriminator stage
    spectral_norm: bool = True                     # spectral normalisation of the discriminator (SNGAN)
    mismatch_weight: float = 0.5                   # share of D's fake term given to real samples with a wrong condition
    contrastive_weight: float = 1.0                # weight of the sample-condition InfoNCE term (XMC-GAN), both players
    contrastive_temperature: float = 0.1           # temperature of that InfoNCE term
    mode_seeking_weight: float = 0.0               # weight of the bounded mode-seeking term (MSGAN/DSGAN)
    mode_seeking_tau: float = 0.1                  # bound of the mode-seeking ratio, in [0, 1] pixels per unit of noise
    drop_false_negatives: bool = False             # a condition another row's sample also fits is not its negative
    condition_dropout: float = 0.2                 # probability of dropping each condition modality in training
    sampled_frames: int = 0                        # video: 0 = 3-D towers on whole clips; k >= 2 = k sampled frames (StyleGAN-V)
    diffaugment: str = ""                          # comma-separated DiffAugment policies: color, translation, cutout
    betas: list[float] = field(default_factory=lambda: [0.0, 0.9])  # Adam betas of both players
    d_lr_scale: float = 1.0                        # discriminator learning rate = d_lr_scale x train.lr (TTUR)
    ema_decay: float = 0.999                       # moving average of the generator used for sampling (0: off)
    bank_size: int = 1024                          # training conditions remembered for unconditional samples
    diversity_every: int = 100                     # batches between measurements of sample spread per condition
    collapse_fraction: float = 0.3                 # warn when that spread falls below this share of its best

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
            raise ConfigError("model.targets is empty; name image, video and/or audio (or leave it out)")

    def augment_policies(self) -> list[str]:
        return [p.strip() for p in str(self.diffaugment or "").split(",") if p.strip()]
