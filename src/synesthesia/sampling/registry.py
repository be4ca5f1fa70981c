"""Samplers by name, so configs and the command line can choose one with a string."""

from __future__ import annotations

import dataclasses

from synesthesia.sampling.ancestral import Ancestral
from synesthesia.sampling.base import Sampler, SamplingError
from synesthesia.sampling.hmc import HMC
from synesthesia.sampling.langevin import MALA, Langevin

SAMPLERS: dict[str, type[Sampler]] = {
    "ancestral": Ancestral,
    "langevin": Langevin,
    "mala": MALA,
    "hmc": HMC,
}


def build_sampler(name: str, **options) -> Sampler:
    """The sampler registered as ``name``, built with ``options`` (e.g. ``step_size=0.2``)."""
    if name not in SAMPLERS:
        raise SamplingError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")
    cls = SAMPLERS[name]
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        allowed = ", ".join(known) or "none"
        raise SamplingError(f"sampler {name!r} has no option {', '.join(unknown)}; "
                            f"its options are: {allowed}")
    return cls(**options)
