"""The shared loop resumes exactly: model, optimiser, step, losses, batch order and random
states from a safetensors checkpoint; SIGTERM saves and stops; the caption expander uses it."""

import os
import signal

import pytest
import torch

from synesthesia.checkpoint import CheckpointError, Interrupted, load_nested
from synesthesia.loop import Minibatches, Resumable, fit


def _problem(seed: int = 0):
    torch.manual_seed(seed)
    x, y = torch.randn(40, 3), torch.randn(40, 1)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1))
    return net, (lambda idx: ((net(x[idx]) - y[idx]) ** 2).mean())


def _run(state=None, stop_at=None, steps=25):
    net, loss = _problem()
    calls = []

    def on_every(step, value):
        calls.append(step)
        if step == stop_at:
            os.kill(os.getpid(), signal.SIGTERM)

    if state is not None:
        state.module = net
    summary = fit(net.parameters(), loss, n=40, steps=steps, batch_size=8, lr=1e-2, seed=3, every=1,
                  on_every=on_every, state=state)
    return net, summary


def test_minibatches_resume_mid_epoch():
    a = Minibatches(10, 3, torch.Generator().manual_seed(1))
    first = [next(a) for _ in range(4)]                     # 3 batches per epoch: into the second
    b = Minibatches(10, 3, torch.Generator().manual_seed(99))
    b.load_state_dict(a.state_dict())
    assert all(torch.equal(next(a), next(b)) for _ in range(7)) and len(first) == 4


def test_sigterm_saves_and_resume_equals_an_uninterrupted_loop(tmp_path):
    ref_net, ref = _run()
    path = tmp_path / "loop.ckpt"
    with pytest.raises(Interrupted, match="SIGTERM") as stop:
        _run(Resumable(path, None, every=100), stop_at=11)
    assert stop.value.step == 11 and load_nested(path)["step"] == 11
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL           # the handler is given back
    torch.manual_seed(12345)                                  # whatever ran meanwhile does not matter
    net, summary = _run(Resumable(path, None, every=100, resume=True))
    assert summary.steps == 25 and summary.losses == ref.losses         # every loss, bit for bit
    for a, b in zip(net.state_dict().values(), ref_net.state_dict().values()):
        assert torch.equal(a, b)


def test_a_checkpoint_of_other_settings_or_damaged_is_refused(tmp_path):
    path = tmp_path / "loop.ckpt"
    _run(Resumable(path, None, every=5), steps=10)
    with pytest.raises(CheckpointError, match="other settings"):
        _run(Resumable(path, None, resume=True), steps=30)
    path.write_bytes(b"\x80\x04K\x01.")                      # a pickle
    with pytest.raises(CheckpointError, match="never loads pickles"):
        _run(Resumable(path, None, resume=True), steps=10)


def test_the_expander_stopped_by_sigterm_resumes_exactly(tiny_modalities, tmp_path):
    from synesthesia.training.expander import train_expander

    text = tiny_modalities["text"]
    partial, complete = ["a red circle", "a big star", "a blue square"] * 8, \
        ["a big red circle", "a big blue star", "a small blue square"] * 8
    args = dict(steps=6, batch_size=8, seed=1, every=2)
    ref, _ = train_expander(text, partial, complete, **args)
    path = tmp_path / "expander.ckpt"
    kill = lambda line: os.kill(os.getpid(), signal.SIGTERM) if line.startswith("step 2:") else None
    with pytest.raises(Interrupted, match="--resume"):
        train_expander(text, partial, complete, **args, checkpoint=path, log=kill, command="again --resume")
    assert load_nested(path)["step"] == 2
    resumed, summary = train_expander(text, partial, complete, **args, checkpoint=path, resume=True)
    assert summary["steps"] == 6
    for a, b in zip(resumed.state_dict().values(), ref.state_dict().values()):
        assert torch.equal(a, b)
