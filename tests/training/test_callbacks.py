import math
from types import SimpleNamespace

import pytest
import torch

from synesthesia.config import ConfigError
from synesthesia.runs.config import TrainConfig
from synesthesia.training.callbacks import CosineSchedule


def test_cosine_schedule_warms_up_then_decays_to_its_floor():
    s = CosineSchedule(warmup_steps=10, final=0.02)
    assert s.factor(0, 0.0) == pytest.approx(0.1)
    assert s.factor(9, 0.0) == pytest.approx(1.0)
    assert s.factor(50, 0.5) == pytest.approx(0.02 + 0.98 * 0.5)
    assert s.factor(99, 1.0) == pytest.approx(0.02)
    values = [s.factor(20, p / 10) for p in range(11)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert not math.isnan(CosineSchedule(warmup_steps=0).factor(0, 0.3))


def test_unknown_schedule_is_refused():
    with pytest.raises(ConfigError, match="choose from cosine, constant"):
        TrainConfig(schedule="linear")


def _run_schedule(schedule: CosineSchedule, steps: range, total: int) -> list[float]:
    """Learning-rate factors the schedule applies at ``steps`` of a ``total``-step budget."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    out = []
    for step in steps:
        trainer = SimpleNamespace(global_step=step, estimated_stepping_batches=total, callbacks=[],
                                  optimizers=[opt])
        schedule.on_train_batch_start(trainer, None, None, step)
        out.append(opt.param_groups[0]["lr"])
    return out


def test_resume_with_a_larger_budget_keeps_decaying_from_where_it_stopped():
    first = CosineSchedule(warmup_steps=0, final=0.02)
    before = _run_schedule(first, range(8), total=10)
    state = first.state_dict()
    assert state["factor"] == pytest.approx(before[-1])

    longer = CosineSchedule(warmup_steps=0, final=0.02)
    longer.load_state_dict(state)
    after = _run_schedule(longer, range(8, 40), total=40)
    assert after[0] == pytest.approx(before[-1], rel=1e-6)                  # no jump back up
    assert all(a >= b - 1e-12 for a, b in zip(after, after[1:]))
    assert after[-1] == pytest.approx(0.02, abs=0.002)
    # without the saved factor the curve of the larger budget starts far higher
    assert CosineSchedule(warmup_steps=0).factor(8, 8 / 40) > 4 * before[-1]

    same = CosineSchedule(warmup_steps=0, final=0.02)                      # same budget: same curve
    same.load_state_dict(state)
    whole = _run_schedule(CosineSchedule(warmup_steps=0, final=0.02), range(10), total=10)
    assert _run_schedule(same, range(8, 10), total=10) == pytest.approx(whole[8:])


def test_warm_restart_on_resume_climbs_to_its_factor_then_decays_to_the_floor():
    first = CosineSchedule(warmup_steps=0, final=0.02)
    before = _run_schedule(first, range(10), total=10)                  # ends at the floor
    assert before[-1] < 0.05

    restarted = CosineSchedule(warmup_steps=5, final=0.02, restart=0.5)
    restarted.load_state_dict(first.state_dict())
    after = _run_schedule(restarted, range(10, 60), total=60)
    assert after[0] < 0.15                                                 # starts near where it stopped
    assert all(a < b for a, b in zip(after[:4], after[1:5]))               # linear climb
    assert max(after) == pytest.approx(0.5, rel=0.05)                      # to the restart factor
    assert all(a >= b - 1e-12 for a, b in zip(after[5:], after[6:]))      # then only down
    assert after[-1] == pytest.approx(0.02, abs=0.005)

    fresh = CosineSchedule(warmup_steps=5, final=0.02, restart=0.5)        # no resume: the plain curve
    assert _run_schedule(fresh, range(10), total=10) == pytest.approx(
        _run_schedule(CosineSchedule(warmup_steps=5, final=0.02), range(10), total=10))


def test_resume_lr_factor_outside_zero_one_is_refused():
    with pytest.raises(ConfigError, match="resume_lr_factor"):
        TrainConfig(resume_lr_factor=2.0)
