"""synesthesia: multimodal generative models, any modality from any subset of the others.

>>> import synesthesia as syn
>>> pipe = syn.load("runs/quickstart")
>>> images = pipe.generate(to="image", text="a big red star", n=4, seed=0)
"""

__version__ = "0.1.0"


def load(run, device="cpu"):
    """Load a trained run folder into a :class:`synesthesia.pipeline.Pipeline`."""
    from synesthesia.pipeline import load as _load

    return _load(run, device=device)


__all__ = ["load", "__version__"]
