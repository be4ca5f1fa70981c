"""synesthesia: multimodal generative models, any modality from any subset of the others.

>>> import synesthesia as syn
>>> pipe = syn.load("runs/quickstart")
>>> images = pipe.generate(to="image", text="a big red star", n=4, seed=0)
"""

__version__ = "0.1.0"


def load(*runs, routes=None, device="cpu"):
    """Load trained run folders into a :class:`synesthesia.pipeline.Pipeline`: one run, or
    several behind one interface (each direction goes to the best of them, or to ``routes``:
    ``{"text->image": run, ...}``)."""
    from synesthesia.pipeline import load as _load

    return _load(*runs, routes=routes, device=device)


__all__ = ["load", "__version__"]
