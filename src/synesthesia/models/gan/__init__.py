"""Conditional GANs: text→image, sound→image, text→video, image→video and image→sound (any subset
of the other modalities conditions an image, video or spectrogram generator)."""

from synesthesia.models.gan.config import AUGMENT_POLICIES, GANConfig
from synesthesia.models.gan.model import ConditionalGAN, ModelInputError


def config_class(options: dict) -> type[GANConfig]:
    """The family's ``model`` section (see :mod:`synesthesia.models.registry`)."""
    return GANConfig


def build_model(modalities, config: GANConfig) -> ConditionalGAN:
    """The family's entry point for :func:`synesthesia.models.registry.build_model` (``config``: its
    typed section or a plain dict)."""
    config = config if isinstance(config, GANConfig) else GANConfig.from_dict(config, "model")
    return ConditionalGAN(modalities, config)


__all__ = ["AUGMENT_POLICIES", "ConditionalGAN", "GANConfig", "ModelInputError", "build_model", "config_class"]
