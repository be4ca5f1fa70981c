"""What users hold: ``pipe = synesthesia.load(run, ...)`` and ``pipe.generate(to=..., text=...)``
(see :mod:`synesthesia.pipeline.pipeline`)."""

from synesthesia.pipeline.inputs import MAX_N
from synesthesia.pipeline.pipeline import FAMILY_PREFERENCE, Pipeline, load
from synesthesia.pipeline.run import Options, PipelineError, Run, parse_direction

__all__ = ["FAMILY_PREFERENCE", "MAX_N", "Options", "Pipeline", "PipelineError", "Run", "load", "parse_direction"]
