"""Model families by name.

Each family is a package under ``synesthesia.models`` that exposes
``config_class(options: dict) -> type`` (the typed ``model`` section for those options) and
``build_model(modalities, config) -> nn.Module``. Every model, whatever its family, offers:

* ``forward(data, masks) -> {"loss": scalar, ...}`` — the model owns its loss (families trained
  adversarially instead expose the two losses their Lightning module asks for, and set
  ``training_kind = "adversarial"``);
* ``generate(given: {modality: tensor}, targets, generator=None, temperature=1.0,
  batch_size=None, **options) -> {target: tensor}`` in model form (what the modality decodes);
* ``directions() -> [(given modalities, target), ...]`` — what it can generate from what.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping

from torch import nn

from synesthesia.config import ConfigError, Section
from synesthesia.modalities.base import Modality

# family -> package exposing config_class(options) and build_model(modalities, config)
FAMILIES: dict[str, str] = {
    "joint_vae": "synesthesia.models.joint_vae",
    "gan": "synesthesia.models.gan",
    "transformer": "synesthesia.models.transformer",
}


def _family(family: str):
    if family not in FAMILIES:
        raise ConfigError(f"unknown model family {family!r}; choose from {', '.join(FAMILIES)}")
    return importlib.import_module(FAMILIES[family])


def model_config_class(family: str, options: Mapping | None = None) -> type[Section]:
    """The typed ``model`` section of ``family`` for these ``options`` (the transformer family
    picks one by ``kind``)."""
    return _family(family).config_class(dict(options or {}))


def build_model(family: str, modalities: Mapping[str, Modality], config: Section | Mapping | None,
                read_run=None) -> nn.Module:
    """Build a family's model for ``modalities`` from its typed config (or a plain dict).
    ``read_run(path)`` reads another run a model is built on (see
    :func:`synesthesia.runs.read_finished_run`); models never read files themselves."""
    if not isinstance(config, Section):
        config = model_config_class(family, config).from_dict(dict(config or {}), "model")
    package = _family(family)
    if read_run is not None and "read_run" in inspect.signature(package.build_model).parameters:
        return package.build_model(dict(modalities), config, read_run=read_run)
    return package.build_model(dict(modalities), config)
