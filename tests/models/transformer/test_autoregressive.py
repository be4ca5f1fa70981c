import shutil

import pytest
import torch
from tests.conftest import TINY_MODALITIES, TINY_WORLD

from synesthesia.config import ConfigError
from synesthesia.modalities.text import EOS, PAD
from synesthesia.models.transformer import AutoregressiveConfig, AutoregressiveGenerator, ModelInputError
from synesthesia.models.transformer import build_model as build_family_model
from synesthesia.models.transformer.layers import KVCache
from synesthesia.runs import read_finished_run
from synesthesia.runs.config import RunConfig

TINY_AR = {"kind": "autoregressive", "width": 32, "heads": 2, "layers": 2}
TOKENIZER = {"kind": "tokenizer", "channels": 8, "levels": [5, 5, 5]}


def build_model(modalities, config):
    """The family's builder with the run reader the run folders give it (models read no files)."""
    return build_family_model(modalities, config, read_run=read_finished_run)


def _config(model: dict, modalities=("image", "text"), **train) -> RunConfig:
    return RunConfig.from_dict({
        "family": "transformer", "model": model,
        "modalities": {m: dict(TINY_MODALITIES[m]) for m in modalities},
        "data": {"world": dict(TINY_WORLD), "modalities": list(modalities), "n_train": 64, "n_val": 16},
        "train": {"batch_size": 16, "max_steps": 3, "checkpoint_every": 2, "log_every": 1, **train}})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tokenizer run and a generator run built on it (a few steps each)."""
    from synesthesia.training.run import train

    root = tmp_path_factory.mktemp("ar")
    tok = train(_config(TOKENIZER, ("image",)), root / "tok", progress=False)
    gen = train(_config({**TINY_AR, "tokenizer_run": str(tok)}, precision="bf16-mixed"), root / "gen",
                progress=False)
    return tok, gen


@pytest.fixture(scope="module")
def model(runs, tiny_modalities):
    torch.manual_seed(0)
    mods = {m: tiny_modalities[m] for m in ("image", "text")}
    return AutoregressiveGenerator(mods, AutoregressiveConfig(**{**TINY_AR, "tokenizer_run": str(runs[0])}),
                                   read_run=read_finished_run).eval()


def test_future_tokens_never_change_past_states(model, tiny_data):
    batch = tiny_data[[0, 1]]
    prefix = model.prefix(batch.data["text"])
    codes = model.tokenizer.encode(batch.data["image"])
    base = model.hidden(prefix, codes[:, :-1])
    j = 5
    changed = codes.clone()
    changed[:, j:] = (changed[:, j:] + 7) % model.tokenizer.codebook_size
    after = model.hidden(prefix, changed[:, :-1])
    cut = prefix.shape[1] + j                                     # positions before code j
    assert torch.allclose(base[:, :cut], after[:, :cut], atol=1e-6)
    assert not torch.allclose(base[:, cut:], after[:, cut:])


def test_kv_cache_gives_the_uncached_result(model, tiny_data):
    batch = tiny_data[[0, 1, 2]]
    prefix = model.prefix(batch.data["text"])
    codes = model.tokenizer.encode(batch.data["image"])
    full = model.hidden(prefix, codes[:, :-1])
    cache = KVCache(len(model.blocks), full.shape[1])
    parts = [model.hidden(prefix, None, cache)] + [model.hidden(None, codes[:, i:i + 1], cache)
                                                   for i in range(codes.shape[1] - 1)]
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)
    for options in ({}, {"cfg_scale": 3.0, "top_k": 20}, {"top_p": 0.9}):
        a = model.generate({"text": batch.data["text"]}, ["image"], torch.Generator().manual_seed(0), **options)
        b = model.generate({"text": batch.data["text"]}, ["image"], torch.Generator().manual_seed(0),
                           use_cache=False, **options)
        assert torch.equal(a["image"], b["image"]), options
    a = model.sample_text(4, torch.Generator().manual_seed(1))
    assert torch.equal(a, model.sample_text(4, torch.Generator().manual_seed(1), use_cache=False))


def test_guidance_scales_and_top_k(model, tiny_data):
    ids = tiny_data[[0, 1]].data["text"]
    empty = torch.full_like(ids, PAD)

    def codes(text, **options):
        return model.sample_codes(text, torch.Generator().manual_seed(5), **options)

    assert torch.equal(codes(ids, cfg_scale=0.0), codes(empty))                  # scale 0: unconditional
    assert torch.equal(codes(ids, cfg_scale=1.0), codes(ids))
    assert torch.equal(codes(ids, top_k=1), codes(ids, temperature=0.0))         # top-1 is argmax
    assert not torch.equal(codes(ids, cfg_scale=1e4), codes(ids))               # (untrained: tiny differences)


def test_unconditional_samples_share_their_caption(model):
    def gen(targets):
        return model.generate({}, targets, torch.Generator().manual_seed(2), batch_size=3)

    text, image, both = gen(["text"]), gen(["image"]), gen(["text", "image"])
    assert torch.equal(text["text"], both["text"]) and torch.equal(image["image"], both["image"])
    assert image["image"].shape == (3, 3, 16, 16) and "text" not in image
    for row in text["text"].tolist():
        assert EOS in row and PAD not in row[:row.index(EOS)]


def test_loss_decreases_and_dropped_captions_still_train(model, tiny_modalities, tiny_data, runs):
    torch.manual_seed(0)
    mods = {m: tiny_modalities[m] for m in ("image", "text")}
    m = AutoregressiveGenerator(mods, AutoregressiveConfig(**{**TINY_AR, "tokenizer_run": str(runs[0])}),
                                read_run=read_finished_run)
    batch = tiny_data[list(range(32))]
    data = {k: batch.data[k] for k in mods}
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(30):
        out = m(data)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    assert sum(losses[-5:]) < 0.8 * sum(losses[:5])
    assert all(p.grad is None for p in m.tokenizer.parameters())                 # the tokenizer stays frozen
    no_text = {"text": torch.zeros(32, dtype=torch.bool), "image": torch.ones(32, dtype=torch.bool)}
    assert torch.isfinite(m(data, no_text)["loss"])


def test_run_is_self_contained_and_options_pass_through_the_pipeline(runs, tmp_path):
    import synesthesia as syn

    tok, gen = runs
    saved = RunConfig.from_yaml(gen / "config.yaml")
    assert saved.model.tokenizer_run == str(tok)
    a = syn.load(gen)
    assert a.model.config.tokenizer["model"]["levels"] == [5, 5, 5]
    # give the run its tokenizer's config (what a preset does) and take the tokenizer run away
    resolved = saved.to_dict()
    resolved["model"]["tokenizer"] = a.model.config.tokenizer
    RunConfig.from_dict(resolved).to_yaml(gen / "config.yaml")
    moved = tmp_path / "moved"
    shutil.move(str(tok), moved)
    try:
        b = syn.load(gen)
        for k, v in a.model.state_dict().items():
            assert torch.equal(v, b.model.state_dict()[k]), k
        options = {"seed": 0, "top_k": 5, "top_p": 0.9, "cfg_scale": 2.0}
        x, y = a.generate(to="image", text="a big red star", **options), b.generate(to="image", text="a big red star", **options)
        assert x[0].tobytes() == y[0].tobytes() and x[0].size == (16, 16)
        assert b.generate(to="image", text="a big red star", seed=1)[0].tobytes() != x[0].tobytes()
        joint = b.sample(n=2, seed=0, to=["text", "image"])
        assert len(joint["text"]) == 2 and len(joint["image"]) == 2
        # a fresh model from that config has no trained tokenizer: it says so instead of training on noise
        fresh = build_model(b.modalities, RunConfig.from_yaml(gen / "config.yaml").model)
        with pytest.raises(ModelInputError, match="does not exist"):
            fresh({"text": b.modalities["text"].encode(["a star"]), "image": torch.zeros(1, 3, 16, 16)})
    finally:
        shutil.move(str(moved), tok)


def test_config_errors(runs, tiny_modalities, tmp_path):
    tok, gen = runs
    mods = {m: tiny_modalities[m] for m in ("image", "text")}
    with pytest.raises(ConfigError, match="tokenizer_run is required"):
        AutoregressiveConfig()
    with pytest.raises(ConfigError, match="train it first"):
        build_model(mods, {**TINY_AR, "tokenizer_run": str(tmp_path / "nothing")})
    with pytest.raises(ConfigError, match="not a transformer tokenizer run"):
        build_model(mods, {**TINY_AR, "tokenizer_run": str(gen)})
    with pytest.raises(ConfigError, match="tokenizes \\['image'\\]"):
        build_model({m: tiny_modalities[m] for m in ("video", "text")}, {**TINY_AR, "tokenizer_run": str(tok)})
    from synesthesia.modalities import build_modality

    bigger = {"image": build_modality("image", size=32), "text": tiny_modalities["text"]}
    with pytest.raises(ConfigError, match="size 16"):
        build_model(bigger, {**TINY_AR, "tokenizer_run": str(tok)})
    with pytest.raises(ModelInputError, match="text and one of image/video"):
        build_model({"image": tiny_modalities["image"]}, {**TINY_AR, "tokenizer_run": str(tok)})
    stale = {"model": {**TOKENIZER, "channels": 16}, "modality": dict(TINY_MODALITIES["image"])}
    model = build_model(mods, {**TINY_AR, "tokenizer_run": str(tok), "tokenizer": stale})
    with pytest.raises(ModelInputError, match="differs from .* \\['channels'\\]"):
        model.generate({"text": mods["text"].encode(["a star"])}, ["image"])
    with pytest.raises(ConfigError, match="'model' .* and 'modality'"):
        AutoregressiveConfig(tokenizer={"levels": [5, 5]}, tokenizer_run="x")
    ok = build_model(mods, {**TINY_AR, "tokenizer_run": str(tok)})
    with pytest.raises(ModelInputError, match="both given and asked for"):
        ok.generate({"text": mods["text"].encode(["a star"])}, ["text"])
    with pytest.raises(ModelInputError, match="batch_size"):
        ok.generate({}, ["image"])
