"""Configuration of the joint multimodal VAE."""

from __future__ import annotations

from dataclasses import dataclass


from synesthesia.config import ConfigError, ModelConfig

FUSIONS = ("poe", "moe", "mopoe")


@dataclass
class JointVAEConfig(ModelConfig):
    """``fusion``: how unimodal posteriors combine — ``poe`` (MVAE), ``moe`` (MMVAE) or ``mopoe``
    (MoPoE). ``beta`` weighs the KL term; it ramps up linearly from 0 over ``kl_warmup_steps``
    training steps. ``unimodal_elbos`` (poe only) adds each modality's own ELBO to the joint one,
    as MVAE's sub-sampled objective does. ``iw_samples`` is K of the importance-weighted bound
    used for evaluation. ``temperature`` scales the latent noise when generating (0: the
    posterior mean)."""

    fusion: str = "mopoe"
    latent_dim: int = 48
    beta: float = 1.0
    kl_warmup_steps: int = 0
    unimodal_elbos: bool = True
    iw_samples: int = 16
    logvar_min: float = -12.0
    logvar_max: float = 6.0

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ConfigError(f"model.fusion {self.fusion!r} unknown; choose from {', '.join(FUSIONS)}")
        if self.latent_dim < 1:
            raise ConfigError(f"model.latent_dim must be positive, got {self.latent_dim}")
        if self.beta < 0:
            raise ConfigError(f"model.beta must be >= 0, got {self.beta}")
        if self.iw_samples < 1:
            raise ConfigError(f"model.iw_samples must be >= 1, got {self.iw_samples}")
