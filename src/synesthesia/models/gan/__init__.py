"""Conditional GANs: text→image, sound→image, text→video and image→video (any subset of the
other modalities conditions an image or video generator)."""

from synesthesia.models.gan.config import AUGMENT_POLICIES, GANConfig
from synesthesia.models.gan.model import ConditionalGAN, ModelInputError


def build_model(modalities, config: dict) -> ConditionalGAN:
    """The family's entry point for :func:`synesthesia.models.registry.build_model`."""
    return ConditionalGAN(modalities, GANConfig.from_dict(config))


__all__ = ["AUGMENT_POLICIES", "ConditionalGAN", "GANConfig", "ModelInputError", "build_model"]
