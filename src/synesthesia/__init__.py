"""synesthesia: multimodal generative models, any modality from any subset of the others.

>>> import synesthesia as syn
>>> pipe = syn.load("runs/quickstart")
>>> images = pipe.generate(to="image", text="a big red star", n=4, seed=0)
"""

__version__ = "0.1.0"


def load(*runs, routes=None, device="cpu"):
    """Load a trained run folder into a :class:`synesthesia.pipeline.Pipeline`; several run
    folders (and optional ``routes={"text->image": run, ...}``) into a
    :class:`synesthesia.compose.ComposedPipeline` that sends each direction to the best model."""
    from synesthesia.pipeline import PipelineError, load as _load

    if not runs:
        raise PipelineError("give at least one run folder")
    if len(runs) == 1 and not routes:
        return _load(runs[0], device=device)
    from synesthesia.compose import ComposedPipeline

    return ComposedPipeline([_load(r, device=device) for r in runs], routes)


__all__ = ["load", "__version__"]
