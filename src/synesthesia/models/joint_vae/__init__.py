"""Joint multimodal VAEs: one model, three fusions (poe / moe / mopoe)."""

from synesthesia.models.joint_vae.config import FUSIONS, JointVAEConfig
from synesthesia.models.joint_vae.model import JointVAE



def build_model(modalities, config: dict) -> JointVAE:
    """The family's entry point for :func:`synesthesia.models.registry.build_model`."""
    return JointVAE(modalities, JointVAEConfig.from_dict(config))


__all__ = ["FUSIONS", "JointVAE", "JointVAEConfig", "build_model"]
