"""Transformers: captioning (image, video, sound -> text), a visual tokenizer (FSQ) and an
autoregressive text -> image / video generator over its codes.

``model.kind`` chooses the model through :data:`KINDS`; each kind has its typed config in
:mod:`synesthesia.models.transformer.config`.
"""

from __future__ import annotations

from synesthesia.config import ConfigError
from synesthesia.models.transformer.autoregressive import AutoregressiveGenerator
from synesthesia.models.transformer.captioner import Captioner
from synesthesia.models.transformer.config import AutoregressiveConfig, CaptionerConfig, TokenizerConfig
from synesthesia.models.transformer.errors import CodebookCollapseError, ModelInputError
from synesthesia.models.transformer.tokenizer import VisualTokenizer

# model.kind -> (model class, config class)
KINDS: dict[str, tuple[type, type]] = {
    "captioner": (Captioner, CaptionerConfig),
    "tokenizer": (VisualTokenizer, TokenizerConfig),
    "autoregressive": (AutoregressiveGenerator, AutoregressiveConfig),
}


def build_model(modalities, config: dict):
    """The family's entry point for :func:`synesthesia.models.registry.build_model`."""
    config = dict(config)
    kind = config.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"model.kind {kind!r} unknown for the transformer family; choose from {', '.join(KINDS)}")
    model_cls, config_cls = KINDS[kind]
    return model_cls(dict(modalities), config_cls.from_dict(config))


__all__ = ["KINDS", "AutoregressiveConfig", "AutoregressiveGenerator", "Captioner", "CaptionerConfig",
           "CodebookCollapseError", "ModelInputError", "TokenizerConfig", "VisualTokenizer", "build_model"]
