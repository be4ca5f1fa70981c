"""Modalities: image, text, audio, video — codec, networks, likelihood and files.

``build_modality(name, **config)`` builds one from the registry :data:`MODALITY_CLASSES`; a
user's own modality joins by adding its class there.
"""

from __future__ import annotations

import importlib

from synesthesia.modalities.base import InputAdjusted, Modality, ModalityError

# name -> (module, class)
MODALITY_CLASSES: dict[str, tuple[str, str]] = {
    "image": ("synesthesia.modalities.image", "ImageModality"),
    "text": ("synesthesia.modalities.text", "TextModality"),
    "audio": ("synesthesia.modalities.audio", "AudioModality"),
    "video": ("synesthesia.modalities.video", "VideoModality"),
}


def modality_class(name: str) -> type[Modality]:
    if name not in MODALITY_CLASSES:
        raise ModalityError(f"unknown modality {name!r}; choose from {', '.join(MODALITY_CLASSES)}")
    module, cls = MODALITY_CLASSES[name]
    return getattr(importlib.import_module(module), cls)


def build_modality(name: str, **config) -> Modality:
    """Build modality ``name`` from its plain-data config (what ``Modality.config()`` returns)."""
    return modality_class(name)(**config)


__all__ = ["InputAdjusted", "Modality", "ModalityError", "MODALITY_CLASSES", "build_modality", "modality_class"]
