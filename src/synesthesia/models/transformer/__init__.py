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


def config_class(options: dict) -> type:
    """The ``model`` section of the kind ``options`` names (see :mod:`synesthesia.models.registry`)."""
    kind = options.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"model.kind {kind!r} unknown for the transformer family; choose from {', '.join(KINDS)}")
    return KINDS[kind][1]


def build_model(modalities, config, read_run=None):
    """The family's entry point for :func:`synesthesia.models.registry.build_model`; ``read_run``
    reads another run folder (the autoregressive generator's tokenizer run); ``config``: the kind's
    typed section or a plain dict."""
    if isinstance(config, dict):
        config = config_class(config).from_dict(config, "model")
    model_cls = KINDS[config.kind][0]
    if model_cls is AutoregressiveGenerator:
        return model_cls(dict(modalities), config, read_run=read_run)
    return model_cls(dict(modalities), config)


__all__ = ["KINDS", "AutoregressiveConfig", "AutoregressiveGenerator", "Captioner", "CaptionerConfig",
           "CodebookCollapseError", "ModelInputError", "TokenizerConfig", "VisualTokenizer", "build_model", "config_class"]
