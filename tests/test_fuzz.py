"""Fuzzing the readers of configs and weights (bounded: fixed seed, few examples): config YAML,
``--set`` strings, safetensors headers and checkpoints, prompts. The only outcomes allowed are
success or the project's own error (a SynesthesiaError) with a message; plus the fixed limits:
malformed safetensors headers refused quickly, YAML over 1 MB or with tags refused, a 1 MB prompt
refused without being echoed."""

import json
import struct
import time

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from synesthesia.checkpoint import CheckpointError, load_nested, save_nested
from synesthesia.config import MAX_YAML_BYTES, ConfigError, apply_overrides, load_yaml
from synesthesia.errors import SynesthesiaError
from synesthesia.runs import RunConfig
from synesthesia.runs.folder import RunError, read_weights

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
FEW = settings(FUZZ, max_examples=25)


def mutations(data: bytes):
    """Byte strings made from ``data``: cut, bytes replaced, bytes inserted, or random."""
    def mutate(args):
        kind, at, blob = args
        at = at % (len(data) + 1)
        if kind == 0:
            return data[:at]
        if kind == 1:
            return data[:at] + blob + data[at + len(blob):]
        if kind == 2:
            return data[:at] + blob + data[at:]
        return blob
    return st.tuples(st.integers(0, 3), st.integers(0, 1 << 20), st.binary(max_size=64)).map(mutate)


def _only_our_errors(fn, *args):
    try:
        fn(*args)
    except SynesthesiaError as err:
        assert str(err).strip(), "an error without a message"
        assert len(str(err)) < 2000, "an error that echoes too much"


# -- config YAML and --set ---------------------------------------------------------------------
VALID_YAML = RunConfig.from_dict({"data": {"world": {"level": 1}}}).to_dict()
VALID_TEXT = yaml.safe_dump(VALID_YAML).encode()


def _read_config(tmp_path, data: bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    RunConfig.from_dict(load_yaml(path))


@seed(22)
@FUZZ
@given(data=st.one_of(mutations(json.dumps(VALID_YAML).encode()), mutations(VALID_TEXT),
                      st.text(alphabet="{}[]:,-!&*|>'\"#%@` \n\tabcdefgtrain.lr0123456789e+", max_size=200)
                      .map(str.encode)))
def test_config_yaml_fuzz(tmp_path_factory, data):
    _only_our_errors(_read_config, tmp_path_factory.getbasetemp(), data)


KEYS = ["train.lr", "train.batch_size", "train.seed", "train.max_steps", "train.max_loss", "model.latent_dim",
        "model.fusion", "data.n_train", "data.missing_p", "modalities.text.max_len", "data.world.level",
        "train.devices", "modalities.imgae.size", "train", "", "a.b.c.d"]
VALUES = st.one_of(st.sampled_from(["6.5", "nan", "inf", "-1", "true", "null", "2**70", "1e400", "[1, 2]",
                                    "{a: 1}", "!!python/object/apply:os.system ['x']", "'", "~", "0x10"]),
                   st.text(max_size=20))


@seed(22)
@FUZZ
@given(key=st.one_of(st.sampled_from(KEYS), st.text(max_size=20)), value=VALUES, sep=st.sampled_from(["=", "", "=="]))
def test_set_string_fuzz(key, value, sep):
    _only_our_errors(lambda: RunConfig.from_dict(apply_overrides(dict(VALID_YAML), [f"{key}{sep}{value}"])))


@pytest.mark.parametrize("text", ["data: {world: [1]}", "data: {world: a}", "modalities: [image]", "model: [x]",
                                  "model: 3"])
def test_a_section_that_is_not_a_mapping_is_a_config_error(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        RunConfig.from_dict(load_yaml(path))


def test_yaml_over_the_size_limit_and_tags_are_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("train:\n  lr: 0.001\n" + "#" * MAX_YAML_BYTES)
    with pytest.raises(ConfigError, match="larger than"):
        load_yaml(big)
    for tag in ("!!python/object/apply:os.system ['echo x']", "!!python/name:os.system", "!custom 1"):
        path = tmp_path / "tag.yaml"
        path.write_text(f"train:\n  lr: {tag}\n")
        with pytest.raises(ConfigError):
            RunConfig.from_dict(load_yaml(path))


# -- safetensors headers and checkpoints ---------------------------------------------------------
@pytest.fixture(scope="module")
def weights_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("st") / "w.safetensors"
    save_file({"a": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.ones(4, dtype=torch.int64)},
              str(path), metadata={"format": "pt"})
    ckpt = path.with_name("c.ckpt")
    save_nested({"state_dict": {"w": torch.ones(3)}, "global_step": 3, "loops": {"x": (1, None)}}, ckpt)
    return path.read_bytes(), ckpt.read_bytes()


def _header(header: dict | bytes, body: bytes = b"", length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + body


MALFORMED = {
    "empty file": b"",
    "short length": b"\x01\x02",
    "header length 2**63": _header(b"{}", length=1 << 63),
    "header longer than the file": _header(b"{}", length=1000),
    "header not JSON": _header(b"{not json"),
    "header not an object": _header(b"[1, 2]"),
    "offsets past the end": _header({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 1 << 40]}}, b"\0" * 8),
    "offsets reversed": _header({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, b"\0" * 8),
    "shape and offsets disagree": _header({"a": {"dtype": "F32", "shape": [1 << 30], "data_offsets": [0, 8]}},
                                          b"\0" * 8),
    "unknown dtype": _header({"a": {"dtype": "Q99", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
    "overlapping tensors": _header({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12),
    "metadata not strings": _header({"__metadata__": {"x": 1}}),
    "a pickle": b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_safetensors_headers_are_refused_quickly(tmp_path, name):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(MALFORMED[name])
    t0 = time.perf_counter()
    with pytest.raises(RunError, match="not a readable safetensors file"):
        read_weights(path)
    with pytest.raises(CheckpointError):
        load_nested(path)
    assert time.perf_counter() - t0 < 2.0


@seed(22)
@FUZZ
@given(data=st.data())
def test_safetensors_and_checkpoint_fuzz(tmp_path_factory, weights_bytes, data):
    weights, ckpt = weights_bytes
    path = tmp_path_factory.getbasetemp() / "fuzz.safetensors"
    path.write_bytes(data.draw(mutations(weights)))
    _only_our_errors(read_weights, path)
    path.write_bytes(data.draw(mutations(ckpt)))
    _only_our_errors(load_nested, path)


@seed(22)
@FEW
@given(skeleton=st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8),
                                       st.floats(allow_nan=False)),
                             lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(
                                 st.sampled_from(["__tensor__", "__map__", "__items__", "__tuple__", "__float__",
                                                  "x"]), c, max_size=3)), max_leaves=8))
def test_checkpoint_skeleton_fuzz(tmp_path_factory, skeleton):
    path = tmp_path_factory.getbasetemp() / "skeleton.ckpt"
    save_file({"t": torch.zeros(1)}, str(path), metadata={"synesthesia.skeleton": json.dumps(skeleton)})
    _only_our_errors(load_nested, path)


# -- prompts -----------------------------------------------------------------------------------
def test_a_megabyte_prompt_is_refused_quickly_without_being_echoed(tiny_run):
    import synesthesia as syn

    pipe = syn.load(tiny_run)
    t0 = time.perf_counter()
    with pytest.raises(SynesthesiaError) as err:
        pipe.generate("image", text="red " * 250_000, n=1)
    assert time.perf_counter() - t0 < 5 and len(str(err.value)) < 600


@seed(22)
@FEW
@given(text=st.one_of(st.text(max_size=60), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))))
def test_prompt_fuzz(tiny_run, text):
    import synesthesia as syn

    _only_our_errors(lambda: syn.load(tiny_run).generate("image", text=text, n=1, seed=0))
