import math

import pytest

from synesthesia.config import ConfigError, TrainConfig
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
