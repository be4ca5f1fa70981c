import math

import pytest
import torch

from synesthesia.training.checkpoint_io import SafetensorsCheckpointIO, load_nested, save_nested


def test_nested_round_trip_without_pickle(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    ckpt = {"state_dict": model.state_dict(), "optimizer_states": [opt.state_dict()],
            "epoch": 3, "global_step": 17, "loops": {"fit": {"progress": (1, 2.5, None, True)}},
            "best": float("inf"), "name": "x"}
    path = tmp_path / "a.ckpt"
    save_nested(ckpt, path)
    back = load_nested(path)
    assert back["global_step"] == 17 and back["epoch"] == 3 and back["name"] == "x"
    assert back["loops"]["fit"]["progress"] == (1, 2.5, None, True)
    assert math.isinf(back["best"])
    for k, v in model.state_dict().items():
        assert torch.equal(back["state_dict"][k], v)
    # optimizer state has integer keys; it must load into a fresh optimizer
    opt2 = torch.optim.Adam(torch.nn.Linear(3, 2).parameters())
    opt2.load_state_dict(back["optimizer_states"][0])
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    # the file is safetensors, not a pickle
    assert not path.read_bytes().startswith(b"\x80")


def test_plugin_errors(tmp_path):
    io = SafetensorsCheckpointIO()
    with pytest.raises(FileNotFoundError):
        io.load_checkpoint(tmp_path / "none.ckpt")
    with pytest.raises(TypeError, match="cannot store object"):
        save_nested({"x": object()}, tmp_path / "b.ckpt")
    assert not (tmp_path / "b.ckpt").exists()
