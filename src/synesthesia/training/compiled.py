"""``train.compile``: a model's forward through ``torch.compile``, eager wherever it cannot compile.

Off by default. On a 2-core AVX2 CPU (joint VAE, MoPoE, image+text, one thread) it was within a
few per cent of eager after minutes of compilation, with graph breaks where the fusion branches
on data (``bool(mask.any())``): ``benchmarks/train_options.py``. It is there for processors where
Inductor's fused kernels pay (GPUs above all); measure before turning it on.

The compiled forward is held outside the module's registered children, so checkpoints and
``model.safetensors`` keep the model's own parameter names. If compiling or running the compiled
forward fails and the eager forward succeeds on the same batch, training continues eagerly with a
note; an error the eager forward raises too is the model's own and propagates.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch


class CompiledForward:
    """Callable like ``model.forward``: compiled first, eager from the first compilation failure."""

    def __init__(self, model: torch.nn.Module, say: Callable[[str], None] | None = None) -> None:
        self.eager = model.forward
        self.compiled: Callable | None = torch.compile(model.forward)
        self.say = say or (lambda line: print(line, file=sys.stderr))

    def __call__(self, *args, **kwargs):
        if self.compiled is None:
            return self.eager(*args, **kwargs)
        try:
            return self.compiled(*args, **kwargs)
        except Exception as err:
            out = self.eager(*args, **kwargs)          # the model's own errors are raised here
            self.compiled = None
            self.say(f"synesthesia: train.compile: torch.compile failed ({type(err).__name__}: "
                     f"{str(err).splitlines()[0][:200] if str(err) else ''}); training continues eagerly")
            return out


def forward_of(model: torch.nn.Module, compile: bool) -> Callable:
    """What a training step calls: the compiled forward when ``compile``, else the model's own call
    (a bound method, so that holding it registers no second child module)."""
    return CompiledForward(model) if compile else model.__call__
