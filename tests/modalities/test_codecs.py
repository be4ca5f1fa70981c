import numpy as np
import pytest
import torch
from PIL import Image

from synesthesia.config import ConfigError
from synesthesia.modalities import InputAdjusted, ModalityError, build_modality
from synesthesia.modalities.text import EOS, PAD, UNK, TextModality
from synesthesia.world import WorldConfig
from synesthesia.world.world import ShapesWorld


@pytest.fixture(scope="module")
def world():
    return ShapesWorld(WorldConfig(level=5, image_size=32, video_size=16, video_frames=4))


@pytest.fixture(scope="module")
def batch(world):
    return world.render("train", np.arange(16))


def test_image_round_trip_and_input_policy(batch):
    m = build_modality("image", size=32)
    x = m.encode([Image.fromarray(a) for a in batch["image"]])
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    back = np.stack([np.asarray(i) for i in m.decode(x)])
    assert np.array_equal(back, batch["image"])
    with pytest.warns(InputAdjusted, match="resized to 32x32"):
        assert m.encode([Image.fromarray(batch["image"][0]).resize((50, 40))]).shape == (1, 3, 32, 32)
    with pytest.warns(InputAdjusted, match="mode L converted to RGB"):
        m.encode([Image.new("L", (32, 32))])
    with pytest.raises(ModalityError, match="PIL image, a file path"):
        m.encode([42])
    with pytest.raises(ModalityError, match="4 times a power of two"):
        build_modality("image", size=30)


def test_text_tokenizer_round_trip_and_errors(batch):
    m = TextModality.from_captions(batch["text"])
    ids = m.encode(batch["text"])
    assert ids.shape == (16, m.max_len) and ids.dtype == torch.long
    assert ((ids == EOS).sum(1) == 1).all() and (ids[:, -1] == PAD).any() | (ids[:, -1] == EOS).any()
    assert m.decode(ids) == [t.lower() for t in batch["text"]]
    known = batch["text"][0].split()[:2]
    with pytest.raises(ModalityError, match="'zebra', 'banana' in"):
        m.encode([" ".join(known + ["zebra", "banana", "zebra"])])
    with pytest.raises(ModalityError, match="empty"):
        m.encode(["   "])
    with pytest.raises(ModalityError, match="reads at most"):
        m.encode([" ".join(known * m.max_len)])
    with pytest.raises(ModalityError, match="must be a string"):
        m.encode([3])


def test_text_assets_round_trip(tmp_path, batch):
    m = TextModality.from_captions(batch["text"])
    m.save_assets(tmp_path)
    again = build_modality("text", **m.config())
    again.load_assets(tmp_path)
    assert torch.equal(again.encode(batch["text"]), m.encode(batch["text"]))


def test_audio_log_mel_griffin_lim_and_resampling(batch, world):
    m = build_modality("audio", sample_rate=8000, seconds=1.0)
    x = m.encode([(w, 8000) for w in batch["audio"][:4]])
    assert x.shape == (4, 64, 64) and -1.01 <= x.min() and x.max() < 1.0
    waves = m.decode(x)
    assert waves[0][1] == 8000 and waves[0][0].shape == (8000,)
    again = m.encode(waves)
    # Griffin-Lim recovers a waveform whose log-mel is close to the original (phase is lost)
    assert (again - x).abs().mean() < 0.07
    other = (np.interp(np.arange(16000) / 2, np.arange(8000), batch["audio"][0]).astype(np.float32), 16000)
    with pytest.warns(InputAdjusted, match=r"resampled to 8000 Hz \(e.g. 16000 Hz\)"):
        y = m.encode([other])
    assert (y - x[:1]).abs().mean() < 0.1
    with pytest.warns(InputAdjusted, match="averaged to mono"):
        m.encode([(np.stack([batch["audio"][0]] * 2, axis=1), 8000)])
    with pytest.warns(InputAdjusted, match="padded with silence"):
        m.encode([(batch["audio"][0][:4000], 8000)])
    with pytest.raises(ModalityError, match=r"\(waveform, sample_rate\)"):
        m.encode([batch["audio"][0]])


def test_mel_filterbank_has_no_empty_band():
    from synesthesia.modalities.dsp import mel_filterbank

    fb = mel_filterbank(8000, 512, 64)
    assert fb.shape == (64, 257) and (fb.sum(1) > 0.99).all() and (fb > 0).sum(1).min() >= 1


def test_resample_keeps_a_tone():
    from synesthesia.modalities.dsp import resample

    t = np.arange(16000) / 16000
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    out = resample(tone, 16000, 8000)
    expected = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)
    assert out.shape == (8000,) and np.abs(out - expected).max() < 1e-3


def test_video_round_trip_and_frame_resampling(batch):
    m = build_modality("video", size=16, frames=4)
    x = m.encode(list(batch["video"][:3]))
    assert x.shape == (3, 4, 3, 16, 16)
    back = np.stack([np.stack([np.asarray(f) for f in clip]) for clip in m.decode(x)])
    assert np.array_equal(back, batch["video"][:3])
    with pytest.warns(InputAdjusted, match=r"sampled to 4 evenly spaced frames \(e.g. 7 frames\)"):
        m.encode([[Image.fromarray(batch["video"][0][k % 4]) for k in range(7)]])


@pytest.mark.parametrize("name,config", [
    ("image", {"size": 16}), ("image", {"size": 32, "residual": True}), ("audio", {"seconds": 0.5, "frames": 16}),
    ("video", {"size": 16, "frames": 4}), ("video", {"size": 32, "frames": 8})])
def test_networks_map_shapes(name, config):
    m = build_modality(name, **config)
    x = torch.rand(2, *m.shape)
    assert m.build_encoder()(x).shape == (2, m.feature_dim)
    params = m.build_decoder(8)(torch.randn(2, 8))
    assert m.mean(params).shape == x.shape
    assert m.log_likelihood(params, x).shape == (2,)


def test_text_networks_and_greedy_decoding(batch):
    m = TextModality.from_captions(batch["text"])
    ids = m.encode(batch["text"][:2])
    assert m.build_encoder()(ids).shape == (2, m.feature_dim)
    torch.manual_seed(0)
    dec = m.build_decoder(8)
    with torch.no_grad():                    # an untrained decoder that would rather write [UNK]
        dec.out.bias[UNK] += 100.0
    z = torch.randn(2, 8)
    logits = dec(z, ids)
    assert logits.shape == (2, m.max_len, m.vocab_size)
    out = m.draw(dec, z)
    assert out.shape == (2, m.max_len)
    assert not (out == UNK).any()
    # greedy decoding is the argmax (over words, not PAD/BOS) of teacher-forced logits fed its own tokens
    logits = dec(z, out)
    logits[..., :3] = -float("inf")
    logits[..., 3] = dec(z, out)[..., 3]
    first_eos = (out == EOS).float().argmax(1)
    for i in range(2):
        k = int(first_eos[i])
        assert torch.equal(logits[i, :k].argmax(-1), out[i, :k])
    assert ((out == EOS).sum(1) == 1).all()


def test_unknown_modality_and_option():
    with pytest.raises(ModalityError, match="choose from image, text, audio, video"):
        build_modality("smell")
    with pytest.raises(ConfigError, match="unknown key 'colour' in modalities.image"):
        build_modality("image", colour=3)
    with pytest.raises(ConfigError, match="modalities.image.size must be an integer or null"):
        build_modality("image", size=6.5)


@pytest.mark.parametrize("name,config", [
    ("image", {"size": 32, "residual": True}), ("audio", {}), ("video", {"size": 32, "frames": 8}),
    ("video", {"size": 16, "frames": 4, "residual": True})])
def test_bf16_autocast_gradients_match_fp32(name, config):
    """Guards the oneDNN bf16 kernels the default networks use (some 3-D shapes miscompute)."""
    torch.manual_seed(0)
    m = build_modality(name, **config)
    enc, dec = m.build_encoder(), m.build_decoder(8)
    x, z = torch.rand(4, *m.shape), torch.randn(4, 8)

    def grads(bf16):
        enc.zero_grad(), dec.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = enc(x).float().square().sum() - m.log_likelihood(dec(z).float(), x).sum()
        loss.backward()
        return torch.cat([p.grad.flatten() for p in [*enc.parameters(), *dec.parameters()]])

    exact, low = grads(False), grads(True)
    assert torch.isfinite(low).all()
    assert ((low - exact).norm() / exact.norm()).item() < 0.05
