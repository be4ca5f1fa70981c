"""Open-vocabulary text: the byte-level BPE tokenizer, training-data truncation, and the world's
caption parser on BPE-decoded captions."""

import numpy as np
import pytest
import torch

from synesthesia.modalities import InputAdjusted, ModalityError, build_modality
from synesthesia.modalities.text import EOS, PAD, UNK, TextModality
from synesthesia.world.parser import parse_captions

CAPTIONS = ["a dog runs on the beach", "two dogs play with a red ball", "a cat sleeps on a sofa",
            "a man rides a bike down the street", "children play football in a park"] * 4


def test_bpe_round_trip_on_words_never_seen():
    text = TextModality.from_captions(CAPTIONS, tokenizer="bpe", vocab_size=1000, max_len=64)
    assert text.kind == "bpe" and 260 < text.vocab_size < 1000      # merges stop with the data
    unseen = ["A zebra ate 18 croissants — café au lait!", "Ünïcödé 東京 🚀 ok", "x"]
    ids = text.encode(unseen)
    assert not (ids == UNK).any() and ((ids == EOS).sum(1) == 1).all()
    assert text.decode(ids) == [t.lower() for t in unseen]
    seen = text.encode(["a dog runs on the beach"])
    assert int((seen[0] != PAD).sum()) == 7        # known words are whole tokens (6 and EOS), not bytes


def test_bpe_assets_and_config_round_trip(tmp_path):
    text = TextModality.from_captions(CAPTIONS, tokenizer="bpe", vocab_size=300)
    text.save_assets(tmp_path)
    config = text.config()
    assert config["tokenizer"] == "bpe" and config["vocab_size"] == 300
    again = build_modality("text", **config)
    again.load_assets(tmp_path)
    probe = ["a zebra on the beach", "dogs"]
    assert torch.equal(again.encode(probe), text.encode(probe))
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ModalityError, match="not a tokenizer file"):
        again.load_assets(tmp_path)


def test_word_tokenizer_names_unknown_words_which_bpe_encodes():
    word = TextModality.from_captions(CAPTIONS, tokenizer="word")
    for encode in (word.encode, word.encode_data):          # training data drops such a caption
        with pytest.raises(ModalityError, match="'zebra'"):
            encode(["a zebra on the beach"])
    bpe = TextModality.from_captions(CAPTIONS, tokenizer="bpe", vocab_size=500, max_len=32)
    assert bpe.decode(bpe.encode_data(["a zebra on the beach"])) == ["a zebra on the beach"]


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_long_captions_are_cut_in_data_and_refused_at_inference(kind):
    text = TextModality.from_captions(CAPTIONS, tokenizer=kind, vocab_size=300, max_len=6)
    long = "a dog runs on the beach with a red ball"
    with pytest.raises(ModalityError, match=r"this model reads at most 5 \(text max_len 6\)"):
        text.encode([long])
    with pytest.warns(InputAdjusted, match=r"1 of 2 captions: cut to 5 tokens \(text max_len 6\)"):
        ids = text.encode_data([long, "a dog"])
    cut = text.decode(ids[:1])[0]
    assert ids[0, -1] == EOS and long.startswith(cut) and len(cut) < len(long)
    assert text.decode(ids[1:]) == ["a dog"]


def test_max_len_default_is_capped():
    long = " ".join(f"w{i}" for i in range(200))
    text = TextModality.from_captions([long, "a dog"], tokenizer="word")
    assert text.max_len == 64


def test_options_are_checked():
    with pytest.raises(ModalityError, match="tokenizer must be one of word, bpe"):
        TextModality.from_captions(CAPTIONS, tokenizer="sentencepiece")
    with pytest.raises(ModalityError, match="vocab_size must exceed"):
        build_modality("text", vocab_size=2)


def test_word_sets_compare_words_not_pieces():
    text = TextModality.from_captions(CAPTIONS, tokenizer="bpe", vocab_size=300)
    sets = text.word_sets(text.encode(["a dog", "a dog on a red sofa", "dogs", "a cat"]))
    sub = ~(sets[:, None, :] & ~sets[None, :, :]).any(-1)          # row i's words all in row j
    assert sub[0, 1] and not sub[1, 0]
    assert not sub[0, 2] and not sub[2, 0]          # "dogs" shares pieces with "dog", not the word
    assert not sub[0, 3]


def test_world_parser_reads_bpe_decoded_world_captions(tiny_world):
    captions = tiny_world.render("train", np.arange(200), ["text"])["text"]
    text = TextModality.from_captions(captions, tokenizer="bpe", vocab_size=500)
    decoded = text.decode(text.encode(captions))
    assert decoded == [c.lower() for c in captions]
    parsed, truth = parse_captions(decoded), parse_captions(captions)
    for a in tiny_world.config.varied:
        assert np.array_equal(parsed[a], truth[a])
