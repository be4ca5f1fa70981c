"""The shapes world: a procedural multimodal benchmark (image, caption, sound, video)."""

from synesthesia.world.attributes import (
    ATTRIBUTE_NAMES,
    ATTRIBUTES,
    DEFAULTS,
    LEVELS,
    MODALITIES,
    WorldConfig,
    WorldError,
)

__all__ = ["ATTRIBUTES", "ATTRIBUTE_NAMES", "DEFAULTS", "LEVELS", "MODALITIES", "WorldConfig", "WorldError"]
