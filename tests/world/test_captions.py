import time

import numpy as np
import pytest

from synesthesia.world import ATTRIBUTES, WorldConfig
from synesthesia.world.captions import PHRASES, TEMPLATES, caption_vocabulary, make_captions
from synesthesia.world.parser import normalise, parse_caption, parse_captions
from synesthesia.world.rng import BatchRandom
from synesthesia.world.world import ShapesWorld


def _random_codes(n, seed=0):
    g = np.random.default_rng(seed)
    return {a: g.integers(0, len(v), n) for a, v in ATTRIBUTES.items()}


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("video", [False, True])
def test_round_trip_every_template_and_level(level, video):
    mods = ("image", "text", "video") if video else ("image", "text")
    cfg = WorldConfig(level=level, modalities=mods)
    n = 600
    codes = _random_codes(n, level)
    rng = BatchRandom(0, 0, np.arange(n))
    texts = make_captions(codes, cfg.varied, rng)
    templates = rng.integers("caption.template", len(TEMPLATES))
    assert set(templates.tolist()) == set(range(len(TEMPLATES)))
    for i, t in enumerate(texts):
        parsed = parse_caption(t)
        assert parsed.ok, (t, parsed)
        want = {a: ATTRIBUTES[a][codes[a][i]] for a in cfg.varied}
        assert parsed.values == want, t


def test_every_synonym_is_used_and_parses():
    n = 5000
    codes = _random_codes(n, 1)
    texts = make_captions(codes, list(ATTRIBUTES), BatchRandom(0, 0, np.arange(n)))
    joined = [" " + " ".join(normalise(t)) + " " for t in texts]
    for attr, table in PHRASES.items():
        for value, phrases in table.items():
            for p in phrases:
                key = " " + " ".join(normalise(p)) + " "
                assert any(key in t for t in joined), p
                assert parse_caption(p).values.get(attr) == value, p


def test_partial_captions_are_subsets_and_never_wrong():
    n = 2000
    codes = _random_codes(n, 2)
    names = list(ATTRIBUTES)
    texts = make_captions(codes, names, BatchRandom(0, 0, np.arange(n)), partial_p=0.5)
    sizes = []
    for i, t in enumerate(texts):
        parsed = parse_caption(t)
        assert parsed.ok, t
        assert parsed.values, t
        assert "shape" in parsed.values
        for a, v in parsed.values.items():
            assert v == ATTRIBUTES[a][codes[a][i]]
        sizes.append(len(parsed.values))
    assert min(sizes) == 1 and max(sizes) == len(names)   # shape alone, and every attribute, both occur
    assert 2.5 < np.mean(sizes) < 4.5           # about half of the five optional attributes kept


def test_partial_captions_without_shape_keep_one_attribute():
    n = 500
    codes = _random_codes(n, 3)
    texts = make_captions(codes, ["colour", "size"], BatchRandom(0, 0, np.arange(n)), partial_p=0.9)
    assert all(parse_caption(t).values for t in texts)


def test_unknown_words_and_conflicts_reported():
    p = parse_caption("a big red zebra")
    assert p.unknown == ["zebra"] and p.values == {"size": "large", "colour": "red"} and not p.ok
    p = parse_caption("a red blue star")
    assert p.conflicts == {"colour": ["red", "blue"]} and "colour" not in p.values
    p = parse_caption("A Big, RED star -- in the upper-left corner!")
    assert p.ok and p.values == {"size": "large", "colour": "red", "shape": "star", "position": "top-left"}
    # motion phrases win over position words, and "getting bigger" is not a size
    p = parse_caption("a star moving left on the right getting bigger")
    assert p.conflicts == {"motion": ["left", "grow"]} and p.values["position"] == "right"
    codes = parse_captions(["a small star", "a red blue circle"])
    assert codes["shape"].tolist() == [3, 0] and codes["colour"].tolist() == [-1, -1]


def test_captions_are_tidy_deterministic_and_batch_independent():
    world = ShapesWorld(WorldConfig(level=5, partial_caption_p=0.3))
    a = world.render("train", np.arange(300), ["text"])["text"]
    b = world.render("train", np.arange(100, 200), ["text"])["text"]
    assert a[100:200] == b
    for t in a:
        assert t == t.strip() and "  " not in t and not t.endswith(("and", ",")), t
    vocab = set(caption_vocabulary())
    for t in a:
        assert set(normalise(t)) <= {w for v in vocab for w in normalise(v)}, t


def test_caption_speed():
    n = 20000
    codes = _random_codes(n, 4)
    rng = BatchRandom(0, 0, np.arange(n))
    t0 = time.perf_counter()
    make_captions(codes, list(ATTRIBUTES), rng)
    rate = n / (time.perf_counter() - t0)
    assert rate > 50_000, rate
