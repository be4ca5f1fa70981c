import pytest

from synesthesia.config import ConfigError, RunConfig, apply_overrides


def test_yaml_round_trip_and_overrides(tmp_path):
    cfg = RunConfig.from_dict({"model": {"fusion": "poe"}, "train": {"lr": 0.01}})
    path = cfg.to_yaml(tmp_path / "c.yaml")
    back = RunConfig.from_yaml(path, ["train.lr=3e-4", "model.fusion=moe", "data.world.level=5"])
    assert back.train.lr == pytest.approx(3e-4)
    assert back.model["fusion"] == "moe"
    assert back.data.world["level"] == 5
    assert RunConfig.from_yaml(path).to_dict() == cfg.to_dict()


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="'lrr'.*known keys"):
        RunConfig.from_dict({"train": {"lrr": 1}})
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["train.lr"])
    with pytest.raises(ConfigError, match="precision"):
        RunConfig.from_dict({"train": {"precision": "fp8"}})
    with pytest.raises(ConfigError, match="does not exist"):
        RunConfig.from_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2")
    with pytest.raises(ConfigError, match="not valid YAML"):
        RunConfig.from_yaml(bad)
