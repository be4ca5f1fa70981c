"""Model families by name. Each entry builds a model from modalities and a config dict."""

from __future__ import annotations

import importlib
from typing import Callable, Mapping

from torch import nn

from synesthesia.modalities.base import Modality

# family -> (module, model class, config class)
FAMILIES: dict[str, tuple[str, str, str]] = {
    "joint_vae": ("synesthesia.models.joint_vae", "JointVAE", "JointVAEConfig"),
}


def family_classes(family: str) -> tuple[type, type]:
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose from {', '.join(FAMILIES)}")
    module, model_cls, config_cls = FAMILIES[family]
    mod = importlib.import_module(module)
    return getattr(mod, model_cls), getattr(mod, config_cls)


def build_model(family: str, modalities: Mapping[str, Modality], config: Mapping) -> nn.Module:
    """Build a family's model for ``modalities`` from a plain config dict."""
    model_cls, config_cls = family_classes(family)
    return model_cls(dict(modalities), config_cls.from_dict(dict(config or {})))


Builder = Callable[[Mapping[str, Modality], Mapping], nn.Module]
