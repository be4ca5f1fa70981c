import numpy as np
import pytest
import torch

from synesthesia.config import ConfigError
from synesthesia.modalities.text import BOS, EOS, PAD, UNK
from synesthesia.models.transformer import Captioner, CaptionerConfig, ModelInputError, build_model
from synesthesia.models.transformer.captioner import shift_right
from synesthesia.models.transformer.layers import KVCache

TINY = {"width": 32, "heads": 2, "encoder_layers": 1, "decoder_layers": 2, "stem_channels": 8}


@pytest.fixture(scope="module")
def captioner(tiny_modalities):
    torch.manual_seed(0)
    return Captioner(tiny_modalities, CaptionerConfig(**TINY)).eval()


def test_future_tokens_never_change_past_logits(captioner, tiny_data):
    batch = tiny_data[[0, 1]]
    ids = batch.data["text"].clone()
    memory_kv = captioner.decoder.memory_kv(captioner.encoders["image"](batch.data["image"]))
    inputs = shift_right(ids)
    base = captioner.decoder(inputs, memory_kv)
    j = 5
    changed = inputs.clone()
    changed[:, j:] = torch.randint(4, 20, changed[:, j:].shape)
    after = captioner.decoder(changed, memory_kv)
    assert torch.allclose(base[:, :j], after[:, :j], atol=1e-6)
    assert not torch.allclose(base[:, j:], after[:, j:])


def test_kv_cache_gives_the_uncached_logits(captioner, tiny_data):
    batch = tiny_data[[0, 1, 2]]
    inputs = shift_right(batch.data["text"])
    memory_kv = captioner.decoder.memory_kv(captioner.encoders["video"](batch.data["video"]))
    full = captioner.decoder(inputs, memory_kv)                                  # (B, L, V)
    cache = KVCache(len(captioner.decoder.blocks), inputs.shape[1])
    first = captioner.decoder(inputs[:, :4], memory_kv, cache)                   # a prefill, then steps
    steps = [captioner.decoder(inputs[:, t:t + 1], memory_kv, cache) for t in range(4, inputs.shape[1])]
    assert torch.allclose(torch.cat([first, *steps], 1), full, atol=1e-5)
    for options in ({}, {"method": "beam", "beam_size": 3}, {"top_k": 5}, {"top_p": 0.8}):
        a = captioner.generate({"audio": batch.data["audio"]}, ["text"], torch.Generator().manual_seed(1), **options)
        b = captioner.generate({"audio": batch.data["audio"]}, ["text"], torch.Generator().manual_seed(1),
                               use_cache=False, **options)
        assert torch.equal(a["text"], b["text"]), options


def test_beam_of_one_is_greedy_and_captions_end_with_eos(captioner, tiny_data):
    batch = tiny_data[list(range(6))]
    for source in ("image", "video", "audio"):
        greedy = captioner.generate({source: batch.data[source]}, ["text"], method="greedy")["text"]
        beam1 = captioner.generate({source: batch.data[source]}, ["text"], method="beam", beam_size=1)["text"]
        assert torch.equal(greedy, beam1)
        beam4 = captioner.generate({source: batch.data[source]}, ["text"], method="beam", beam_size=4)["text"]
        for ids in (greedy, beam4):
            assert ids.shape == batch.data["text"].shape
            for row in ids.tolist():
                end = row.index(EOS)                                # every caption has its EOS ...
                assert all(t == PAD for t in row[end + 1:]) and PAD not in row[:end]   # ... then PADs
                assert UNK not in row and BOS not in row                # never written


def test_top_k_one_is_greedy_and_sampling_is_seeded(captioner, tiny_data):
    x = {"image": tiny_data[list(range(4))].data["image"]}
    greedy = captioner.generate(x, ["text"])["text"]
    assert torch.equal(captioner.generate(x, ["text"], top_k=1)["text"], greedy)
    a = captioner.generate(x, ["text"], torch.Generator().manual_seed(3), method="sample")["text"]
    b = captioner.generate(x, ["text"], torch.Generator().manual_seed(3), method="sample")["text"]
    assert torch.equal(a, b)


def test_learns_to_caption_a_tiny_world(tiny_modalities, tiny_data):
    torch.manual_seed(0)
    mods = {m: tiny_modalities[m] for m in ("image", "text")}
    model = Captioner(mods, CaptionerConfig(**TINY))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = tiny_data[list(range(64))]
    data = {m: batch.data[m] for m in mods}
    first = None
    for _ in range(60):
        out = model(data)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first if first is not None else out["loss"].item()
    assert out["loss"].item() < 0.5 * first
    assert out["accuracy"]["image"] > 0.6
    masks = {"text": torch.ones(64, dtype=torch.bool), "image": torch.zeros(64, dtype=torch.bool)}
    masks["image"][:3] = True                                 # only 3 samples count
    assert torch.isfinite(model(data, masks)["loss"])


def test_directions_config_and_input_errors(captioner, tiny_modalities, tiny_data):
    assert captioner.directions() == [(("image",), "text"), (("audio",), "text"), (("video",), "text")]
    only_video = build_model(tiny_modalities, {"kind": "captioner", "sources": ["video"], **TINY})
    assert only_video.directions() == [(("video",), "text")] and set(only_video.encoders) == {"video"}
    batch = tiny_data[[0, 1]]
    with pytest.raises(ModelInputError, match="exactly one source"):
        captioner.generate({"image": batch.data["image"], "audio": batch.data["audio"]}, ["text"])
    with pytest.raises(ModelInputError, match="cannot generate 'image'"):
        captioner.generate({"text": batch.data["text"]}, ["image"])
    with pytest.raises(ModelInputError, match="from nothing"):
        captioner.generate({}, ["text"], batch_size=2)
    with pytest.raises(ModelInputError, match="method"):
        captioner.generate({"image": batch.data["image"]}, ["text"], method="nucleus")
    with pytest.raises(ConfigError, match="model.kind"):
        build_model(tiny_modalities, {"kind": "gpt"})
    with pytest.raises(ConfigError, match="multiple of model.heads"):
        build_model(tiny_modalities, {"kind": "captioner", "width": 30, "heads": 4})
    with pytest.raises(ConfigError, match="model.decoding"):
        CaptionerConfig(decoding="nucleus")
    with pytest.raises(ConfigError, match="power of two"):
        CaptionerConfig(patch=3)
    with pytest.raises(ConfigError, match="unknown key"):
        build_model(tiny_modalities, {"kind": "captioner", "widht": 32})
    with pytest.raises(ModelInputError, match="model.sources"):
        build_model(tiny_modalities, {"kind": "captioner", "sources": ["text"], **TINY})
    with pytest.raises(ConfigError, match="model.video_patch"):
        build_model(tiny_modalities, {"kind": "captioner", **TINY, "video_patch": 32})
    with pytest.raises(ConfigError, match="model.audio_stride"):
        build_model(tiny_modalities, {"kind": "captioner", **TINY, "audio_stride": 32})
    with pytest.raises(ModelInputError, match="needs the text modality"):
        build_model({"image": tiny_modalities["image"]}, {"kind": "captioner", **TINY})


def test_config_yaml_round_trip(tmp_path):
    cfg = CaptionerConfig(width=64, heads=2, decoding="beam", top_p=0.9)
    assert CaptionerConfig.from_yaml(cfg.to_yaml(tmp_path / "c.yaml")) == cfg


def test_train_save_load_and_pipeline(tmp_path, tiny_world):
    from PIL import Image
    from tests.conftest import TINY_MODALITIES, TINY_WORLD

    import synesthesia as syn
    from synesthesia.runs.config import RunConfig
    from synesthesia.training.run import train

    config = RunConfig.from_dict({
        "family": "transformer", "model": {"kind": "captioner", **TINY},
        "modalities": {m: dict(TINY_MODALITIES[m]) for m in ("image", "text")},
        "data": {"world": dict(TINY_WORLD), "modalities": ["image", "text"], "n_train": 64, "n_val": 16},
        "train": {"batch_size": 16, "max_steps": 3, "checkpoint_every": 2, "log_every": 1,
                  "precision": "bf16-mixed", "samples_every_epoch": False}})
    run = train(config, tmp_path / "cap", progress=False)
    a, b = syn.load(run), syn.load(run)
    assert a.model.decoder.head.weight is a.model.decoder.embed.weight           # tying survives loading
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    image = Image.fromarray(tiny_world.render("test", np.arange(1), ["image"])["image"][0])
    greedy = a.generate(to="text", image=image)
    assert len(greedy) == 1 and isinstance(greedy[0], str) and greedy == b.generate(to="text", image=image)
    assert len(a.generate(to="text", image=image, n=3, seed=0, top_k=5, top_p=0.9)) == 3
    assert len(a.generate(to="text", image=image, method="beam", beam_size=2)) == 1
    with pytest.raises(TypeError, match="top_kk"):
        a.generate(to="text", image=image, top_kk=5)
