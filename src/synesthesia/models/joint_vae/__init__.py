"""Joint multimodal VAEs: one model, three fusions (poe / moe / mopoe)."""

from synesthesia.models.joint_vae.config import FUSIONS, JointVAEConfig
from synesthesia.models.joint_vae.model import JointVAE


def config_class(options: dict) -> type[JointVAEConfig]:
    """The family's ``model`` section (see :mod:`synesthesia.models.registry`)."""
    return JointVAEConfig


def build_model(modalities, config: JointVAEConfig) -> JointVAE:
    """The family's entry point for :func:`synesthesia.models.registry.build_model` (``config``: its
    typed section or a plain dict)."""
    config = config if isinstance(config, JointVAEConfig) else JointVAEConfig.from_dict(config, "model")
    return JointVAE(modalities, config)


__all__ = ["FUSIONS", "JointVAE", "JointVAEConfig", "build_model", "config_class"]
