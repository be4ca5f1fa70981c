import dataclasses

import pytest

from synesthesia.config import ConfigError, apply_overrides, described_yaml, field_docs
from synesthesia.runs.config import RunConfig, TrainConfig, find_config


def test_yaml_round_trip_and_overrides(tmp_path):
    cfg = RunConfig.from_dict({"model": {"fusion": "poe"}, "train": {"lr": 0.01}})
    path = cfg.to_yaml(tmp_path / "c.yaml")
    back = RunConfig.from_yaml(path, ["train.lr=3e-4", "model.fusion=moe", "data.world.level=5"])
    assert back.train.lr == pytest.approx(3e-4)
    assert back.model.fusion == "moe"
    assert back.data.world.level == 5
    assert RunConfig.from_yaml(path).to_dict() == cfg.to_dict()


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="'lrr'.*did you mean 'lr'.*known keys"):
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
    tagged = tmp_path / "tagged.yaml"
    tagged.write_text("train: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        RunConfig.from_yaml(tagged)


@pytest.mark.parametrize("section,value,message", [
    ({"train": {"batch_size": 6.5}}, None, "train.batch_size must be an integer"),
    ({"train": {"lr": float("nan")}}, None, "finite"),
    ({"train": {"lr": float("inf")}}, None, "finite"),
    ({"train": {"lr": True}}, None, "train.lr must be a number"),
    ({"train": {"max_minutes": -1}}, None, "positive"),
    ({"train": {"seed": 2 ** 70}}, None, "out of range"),
    ({"model": {"latent_dm": 3}}, None, "did you mean 'latent_dim'"),
    ({"modalities": {"imgae": {}}}, None, "unknown modality 'imgae'.*did you mean 'image'"),
    ({"modalities": {"image": {"size": "big"}}}, None, "modalities.image.size must be an integer"),
    ({"data": {"world": {"levle": 3}}}, None, "did you mean 'level'"),
    ({"family": "vae"}, None, "unknown model family"),
    ({"model": {"kind": "diffusion"}, "family": "transformer"}, None, "model.kind 'diffusion' unknown"),
])
def test_bad_values_fail_before_anything_is_written(section, value, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict(section)


def test_every_field_of_every_section_says_what_it_means():
    from synesthesia.data.config import DataConfig
    from synesthesia.modalities import MODALITY_CLASSES, modality_class
    from synesthesia.models.gan import GANConfig
    from synesthesia.models.joint_vae import JointVAEConfig
    from synesthesia.models.transformer import AutoregressiveConfig, CaptionerConfig, TokenizerConfig
    from synesthesia.models.transformer.expander import ExpanderConfig
    from synesthesia.world import WorldConfig

    sections = [RunConfig, TrainConfig, DataConfig, WorldConfig, JointVAEConfig, GANConfig, CaptionerConfig,
                TokenizerConfig, AutoregressiveConfig, ExpanderConfig,
                *(modality_class(m).Config for m in MODALITY_CLASSES)]
    for cls in sections:
        docs = field_docs(cls)
        missing = [f.name for f in dataclasses.fields(cls) if not docs.get(f.name)]
        assert not missing, (cls.__name__, missing)


def test_presets_resolve_and_show_their_meanings(tmp_path):
    text = described_yaml(RunConfig.from_yaml(find_config("quickstart")))
    assert "max_steps: 1500  # stop after this many optimiser steps" in text
    assert find_config("configs/joint_vae/l5-32.yaml").name == "l5-32.yaml"
    assert find_config("gan/l5-32").is_file()
    with pytest.raises(ConfigError, match="did you mean 'quickstart'"):
        find_config("quikstart")
    for preset in find_config("quickstart").parent.rglob("*.yaml"):
        RunConfig.from_yaml(preset)                      # every preset is a valid config
