"""Model families by name.

Each family is a package under ``synesthesia.models`` that exposes
``build_model(modalities, config: dict) -> nn.Module``. Every model, whatever its family, offers:

* ``forward(data, masks) -> {"loss": scalar, ...}`` — the model owns its loss (families trained
  adversarially instead expose the two losses their Lightning module asks for, and set
  ``training_kind = "adversarial"``);
* ``generate(given: {modality: tensor}, targets, generator=None, temperature=1.0,
  batch_size=None, **options) -> {target: tensor}`` in model form (what the modality decodes);
* ``directions() -> [(given modalities, target), ...]`` — what it can generate from what.
"""

from __future__ import annotations

import importlib
from typing import Mapping

from torch import nn

from synesthesia.config import ConfigError
from synesthesia.modalities.base import Modality

# family -> package exposing build_model(modalities, config)
FAMILIES: dict[str, str] = {
    "joint_vae": "synesthesia.models.joint_vae",
    "gan": "synesthesia.models.gan",
    "transformer": "synesthesia.models.transformer",
}


def build_model(family: str, modalities: Mapping[str, Modality], config: Mapping | None) -> nn.Module:
    """Build a family's model for ``modalities`` from a plain config dict."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown model family {family!r}; choose from {', '.join(FAMILIES)}")
    package = importlib.import_module(FAMILIES[family])
    return package.build_model(dict(modalities), dict(config or {}))
