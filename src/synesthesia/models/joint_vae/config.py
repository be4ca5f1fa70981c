"""Configuration of the joint multimodal VAE (the ``model`` section of a joint_vae run)."""

from __future__ import annotations

from dataclasses import dataclass

from synesthesia.config import ConfigError, Section

FUSIONS = ("poe", "moe", "mopoe")


@dataclass
class JointVAEConfig(Section):
    fusion: str = "mopoe"              # how unimodal posteriors combine: poe (MVAE), moe (MMVAE) or mopoe (MoPoE)
    latent_dim: int = 48               # size of the shared latent z
    beta: float = 1.0                  # weight of the KL term
    kl_warmup_steps: int = 0           # steps over which beta ramps up linearly from 0
    unimodal_elbos: bool = True        # poe only: add each modality's own ELBO, as MVAE's sub-sampled objective
    iw_samples: int = 16               # K of the importance-weighted bound used for evaluation
    logvar_min: float = -12.0          # lower clamp of the experts' log-variances
    logvar_max: float = 6.0            # upper clamp of the experts' log-variances

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ConfigError(f"model.fusion {self.fusion!r} unknown; choose from {', '.join(FUSIONS)}")
        if self.latent_dim < 1:
            raise ConfigError(f"model.latent_dim must be positive, got {self.latent_dim}")
        if self.beta < 0:
            raise ConfigError(f"model.beta must be >= 0, got {self.beta}")
        if self.kl_warmup_steps < 0:
            raise ConfigError(f"model.kl_warmup_steps must be >= 0, got {self.kl_warmup_steps}")
        if self.iw_samples < 1:
            raise ConfigError(f"model.iw_samples must be >= 1, got {self.iw_samples}")
        if self.logvar_min >= self.logvar_max:
            raise ConfigError(f"model.logvar_min ({self.logvar_min}) must be below model.logvar_max ({self.logvar_max})")
