"""What a conditional GAN's batch is made of: which modalities condition which target, the
draw of one batch (rows, conditions, fakes) both players' steps share, and which conditions also
describe another row's sample (false negatives)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from synesthesia.config import ConfigError
from synesthesia.modalities.base import Modality
from synesthesia.modalities.text import TextModality
from synesthesia.models.gan.config import GANConfig
from synesthesia.models.gan.networks import DEFAULT_TARGETS, LAYOUTS


@dataclass
class Draw:
    """One batch's conditions and fakes, shared by both players' steps: per target, the rows that
    have it, the conditions given to the encoder and their presence (after condition dropout), the
    condition vectors (with gradient, for the discriminator), and the generated samples (with
    gradient, for the generator)."""

    rows: dict[str, torch.Tensor | None] = field(default_factory=dict)
    given: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    present: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    cond: dict[str, torch.Tensor] = field(default_factory=dict)
    fake: dict[str, torch.Tensor] = field(default_factory=dict)
    z: dict[str, torch.Tensor] = field(default_factory=dict)
    pairs: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    fits: dict[str, torch.Tensor] = field(default_factory=dict)
    times: dict[str, torch.Tensor] = field(default_factory=dict)       # frame-sampled videos: (B, K)


def condition_fits(given: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor],
                   modalities: Mapping[str, Modality]) -> torch.Tensor:
    """(B, B) bool: ``fits[i, j]`` when row i's condition also describes row j's sample. Per
    given modality: absent in row i fits every j; text fits when every word of caption i is in
    caption j (words, not subword tokens: see ``TextModality.word_sets``); any other modality fits
    only its own row. The diagonal is always True."""
    b = len(next(iter(present.values())))
    device = next(iter(present.values())).device
    eye = torch.eye(b, dtype=torch.bool, device=device)
    fits = torch.ones(b, b, dtype=torch.bool, device=device)
    for m, x in given.items():
        here = present[m]
        if isinstance(modalities[m], TextModality):
            words = modalities[m].word_sets(x)                                  # (B, W)
            fit_m = ~(words[:, None, :] & ~words[None, :, :]).any(-1)           # (B, B)
        else:
            fit_m = eye
        fits &= fit_m | ~here[:, None]
    return fits | eye


def resolve_targets(modalities: Mapping[str, Modality], config: GANConfig
                    ) -> tuple[list[str], dict[str, list[str]]]:
    """The targets and each one's condition modalities, checked against ``modalities``."""
    names = list(modalities)
    targets = list(config.targets) if config.targets else [m for m in names if m in DEFAULT_TARGETS]
    if not targets:
        raise ConfigError(f"a GAN generates {' or '.join(DEFAULT_TARGETS)} unless model.targets names "
                          f"{', '.join(m for m in LAYOUTS if m not in DEFAULT_TARGETS)}; the model's "
                          f"modalities are {names}")
    for t in targets:
        if t not in modalities:
            raise ConfigError(f"model.targets names {t!r}, which is not among the modalities {names}")
        if t not in LAYOUTS:
            raise ConfigError(f"the GAN cannot generate {t!r}; it generates {', '.join(LAYOUTS)}")
    given = dict(config.conditions or {})
    unknown = [t for t in given if t not in targets]
    if unknown:
        raise ConfigError(f"model.conditions has entries for {unknown}, which are not targets {targets}")
    conditions = {}
    for t in targets:
        conds = list(given.get(t) or [m for m in names if m != t])
        bad = [m for m in conds if m not in modalities or m == t]
        if bad or not conds:
            raise ConfigError(f"model.conditions[{t!r}] must name other modalities of the model "
                              f"({[m for m in names if m != t]}); got {conds}")
        conditions[t] = conds
    return targets, conditions
