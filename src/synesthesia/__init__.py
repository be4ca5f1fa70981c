"""synesthesia: multimodal generative models, any modality from any subset of the others.

>>> import synesthesia as syn
>>> pipe = syn.load("runs/quickstart")
>>> images = pipe.generate(to="image", text="a big red star", n=4, seed=0)
"""

import os

__version__ = "0.1.0"

# OpenMP threads wait passively (sleep) rather than spin between parallel regions, so a training
# that shares the cores with other jobs slows down in proportion to the CPU it gets: measured
# 0.64x the wall time of spinning threads with two other jobs on 2 cores (docs/results.md). It
# takes effect when synesthesia is imported before torch (the command line always is); a value
# set in the environment is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def load(*runs, routes=None, device="cpu"):
    """Load trained run folders into a :class:`synesthesia.pipeline.Pipeline`: one run, or
    several behind one interface (each direction goes to the best of them, or to ``routes``:
    ``{"text->image": run, ...}``)."""
    from synesthesia.pipeline import load as _load

    return _load(*runs, routes=routes, device=device)


__all__ = ["load", "__version__"]
