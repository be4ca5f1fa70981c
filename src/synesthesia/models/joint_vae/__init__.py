"""Joint multimodal VAEs: one model, three fusions (poe / moe / mopoe)."""

from synesthesia.models.joint_vae.config import FUSIONS, JointVAEConfig
from synesthesia.models.joint_vae.model import JointVAE

__all__ = ["FUSIONS", "JointVAE", "JointVAEConfig"]
