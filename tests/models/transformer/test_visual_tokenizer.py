import itertools

import pytest
import torch

from synesthesia.config import ConfigError
from synesthesia.models.transformer import ModelInputError, TokenizerConfig, VisualTokenizer, build_model
from synesthesia.models.transformer.fsq import FSQ
from synesthesia.models.transformer.tokenizer import CodebookCollapseError


def test_fsq_rounds_to_exactly_the_levels():
    fsq = FSQ([8, 5, 3])
    z = torch.randn(20000, 3) * 4
    q = fsq(z)
    for i, levels in enumerate((8, 5, 3)):
        assert q[:, i].unique().numel() == levels
        assert q[:, i].min() >= -1 and q[:, i].max() <= 1
    assert torch.equal(fsq.project(q), q)                                 # already on the grid
    assert torch.equal(fsq.project(fsq.project(z / 4)), fsq.project(z / 4))  # projection is idempotent


def test_fsq_codes_and_indices_are_a_bijection():
    fsq = FSQ([4, 5, 3])
    indices = torch.arange(fsq.codebook_size)
    codes = fsq.indices_to_codes(indices)                                  # (60, 3)
    assert torch.equal(fsq.codes_to_indices(codes), indices)
    assert torch.equal(fsq.project(codes), codes)
    grid = {tuple(c) for c in codes.tolist()}
    assert len(grid) == 60
    q = fsq(torch.randn(500, 3) * 3)
    assert torch.equal(fsq.indices_to_codes(fsq.codes_to_indices(q)), q)


def test_fsq_passes_gradients_straight_through():
    fsq = FSQ([5, 5])
    z = torch.randn(10, 2, requires_grad=True)
    fsq(z).sum().backward()
    assert z.grad is not None and (z.grad.abs() > 0).all()


def test_grids_and_shapes(tiny_modalities, tiny_data):
    batch = tiny_data[[0, 1, 2]]
    image = VisualTokenizer({"image": tiny_modalities["image"]}, TokenizerConfig(channels=8))
    assert image.grid == (4, 4) and image.tokens == 16 and image.codebook_size == 1000
    idx = image.encode(batch.data["image"])
    assert idx.shape == (3, 16) and idx.dtype == torch.long and idx.max() < 1000
    assert image.decode(idx).shape == (3, 3, 16, 16)
    video = VisualTokenizer({"video": tiny_modalities["video"]}, TokenizerConfig(channels=8, downsample=8,
                                                                                time_downsample=2))
    assert video.grid == (2, 2, 2)
    idx = video.encode(batch.data["video"])
    assert idx.shape == (3, 8) and video.decode(idx).shape == (3, 4, 3, 16, 16)
    assert video.directions() == []


def test_a_trained_tiny_tokenizer_reconstructs_its_data(tiny_modalities, tiny_data):
    torch.manual_seed(0)
    tok = VisualTokenizer({"image": tiny_modalities["image"]}, TokenizerConfig(channels=16, levels=[5, 5, 5]))
    x = tiny_data[list(range(64))].data["image"]
    opt = torch.optim.Adam(tok.parameters(), lr=2e-3)
    for _ in range(80):
        out = tok({"image": x})
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    idx = tok.encode(x)
    rec = tok.decode(idx)
    assert ((rec - x) ** 2).mean() < 0.2 * x.var()                     # most of the variance is kept
    assert idx.unique().numel() > 20                                   # many codes in use
    assert torch.equal(tok.reconstruct(x), rec)


def test_config_errors(tiny_modalities):
    with pytest.raises(ConfigError, match="levels"):
        TokenizerConfig(levels=[8, 1])
    with pytest.raises(ConfigError, match="power of two"):
        TokenizerConfig(downsample=3)
    with pytest.raises(ConfigError, match="under 2"):
        TokenizerConfig(levels=[16] * 6)
    with pytest.raises(ModelInputError, match="one visual modality"):
        build_model({m: tiny_modalities[m] for m in ("image", "text")}, {"kind": "tokenizer"})
    with pytest.raises(ModelInputError, match="does not divide"):
        VisualTokenizer({"image": tiny_modalities["image"]}, TokenizerConfig(downsample=32))
    with pytest.raises(ModelInputError, match="trains on data"):
        VisualTokenizer({"image": tiny_modalities["image"]}, TokenizerConfig(channels=8))({"video": None})
    assert list(itertools.islice(TokenizerConfig().to_dict(), 2)) == ["kind", "levels"]


def test_a_collapsed_codebook_stops_training_with_advice(tiny_modalities, tiny_data):
    torch.manual_seed(0)
    tok = VisualTokenizer({"image": tiny_modalities["image"]}, TokenizerConfig(channels=8, levels=[5, 5, 5]))
    x = tiny_data[list(range(64))].data["image"]
    last = tok.encoder[-1]
    with torch.no_grad():                                              # spread the inputs over the codes
        last.weight.normal_(0.0, 5.0)
    for _ in range(5):
        assert tok({"image": x})["usage"] > 0.3                        # healthy: many codes per batch
    with torch.no_grad():                                              # every input onto one corner code
        last.weight.zero_()
        last.bias.fill_(50.0)
    tok.eval()
    for _ in range(40):                                                # evaluation only reports usage
        assert tok({"image": x})["usage"] == pytest.approx(1 / 125)
    tok.train()
    with pytest.raises(CodebookCollapseError, match="lower train.lr"):
        for _ in range(40):
            tok({"image": x})
