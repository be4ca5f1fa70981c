"""``train.compile``: the compiled forward gives the eager outputs; any compiler failure falls back
to eager training with a note; the model's own errors still surface; parameter names stay the
model's."""

import pytest
import torch
from tests.conftest import tiny_run_config

from synesthesia.config import ConfigError
from synesthesia.training import compiled as C
from synesthesia.training.module import GenerativeModule


class Doubler(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(2.0))

    def forward(self, x):
        if (x < 0).any():
            raise ValueError("negative input")
        return {"loss": (self.w * x).sum()}


def failing_compile(fn, **_):
    def run(*args, **kwargs):
        raise RuntimeError("backend compiler failed: no C++ compiler")
    return run


def test_a_compiler_failure_falls_back_to_eager_with_a_note(monkeypatch):
    monkeypatch.setattr(C.torch, "compile", failing_compile)
    notes = []
    model = Doubler()
    fwd = C.CompiledForward(model, say=notes.append)
    out = fwd(torch.ones(3))
    assert out["loss"].item() == 6.0
    assert len(notes) == 1 and "training continues eagerly" in notes[0] and "no C++ compiler" in notes[0]
    assert fwd.compiled is None
    assert fwd(torch.ones(2))["loss"].item() == 4.0 and len(notes) == 1      # eager from now on, one note


def test_the_models_own_error_is_not_hidden_by_the_fallback(monkeypatch):
    monkeypatch.setattr(C.torch, "compile", failing_compile)
    with pytest.raises(ValueError, match="negative input"):
        C.CompiledForward(Doubler(), say=lambda _: None)(-torch.ones(2))


def test_compile_keeps_the_models_parameter_names(monkeypatch):
    monkeypatch.setattr(C.torch, "compile", lambda fn, **_: fn)
    cfg = tiny_run_config(compile=True).train
    model = Doubler()
    assert set(GenerativeModule(model, cfg).state_dict()) == {"model.w"}
    off = tiny_run_config().train
    assert set(GenerativeModule(model, off).state_dict()) == {"model.w"}


def test_adversarial_training_refuses_compile():
    from synesthesia.training.adversarial import AdversarialModule

    with pytest.raises(ConfigError, match="train.compile"):
        AdversarialModule(Doubler(), tiny_run_config(compile=True, gradient_clip=None).train)


@pytest.mark.slow
def test_the_compiled_joint_vae_gives_the_eager_loss_and_gradients(tiny_data, tiny_modalities, monkeypatch):
    import torch._inductor.config as inductor

    from synesthesia.models.registry import build_model

    monkeypatch.setattr(inductor, "fallback_random", True)     # Inductor's own RNG draws other noise
    torch.manual_seed(0)
    two = {m: tiny_modalities[m] for m in ("image", "text")}    # a smaller graph compiles sooner
    model = build_model("joint_vae", two, tiny_run_config().model)
    full = tiny_data[list(range(16))]
    batch = type(full)({m: full.data[m] for m in two}, {m: full.masks[m] for m in two})
    notes = []
    fwd = C.CompiledForward(model, say=notes.append)

    def loss_and_grads(call):
        torch.manual_seed(1)
        model.zero_grad()
        loss = call(batch.data, batch.masks)["loss"]
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    eager_loss, eager_grads = loss_and_grads(model)
    comp_loss, comp_grads = loss_and_grads(fwd)
    assert not notes, notes                                    # it compiled (no fallback)
    torch.testing.assert_close(comp_loss, eager_loss, rtol=1e-4, atol=1e-3)
    for a, b in zip(comp_grads, eager_grads):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
