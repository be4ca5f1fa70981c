import hashlib

import numpy as np
import pytest

from synesthesia.world import ATTRIBUTES, WorldConfig, WorldError
from synesthesia.world.render import render_images, sprite_bank
from synesthesia.world.rng import BatchRandom
from synesthesia.world.world import ShapesWorld


def _digest(batch: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(batch):
        value = batch[key]
        if key == "codes":
            for a in sorted(value):
                h.update(value[a].tobytes())
        elif key == "text":
            h.update("\n".join(value).encode())
        else:
            h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def test_same_seed_same_bytes_and_batch_independent():
    cfg = WorldConfig(level=5, image_size=32, seed=7)
    a = ShapesWorld(cfg).render("train", np.arange(20))
    b = ShapesWorld(WorldConfig.from_dict(cfg.to_dict())).render("train", np.arange(20))
    assert _digest(a) == _digest(b)
    # rendering a sample alone gives the same bytes as inside a batch
    single = ShapesWorld(cfg).render("train", [13])
    assert np.array_equal(single["image"][0], a["image"][13])
    assert np.array_equal(single["video"][0], a["video"][13])
    assert np.array_equal(single["audio"][0], a["audio"][13])
    assert single["text"][0] == a["text"][13]


def test_seed_and_split_change_samples():
    base = ShapesWorld(WorldConfig(level=5, seed=0)).render("train", np.arange(16), ["image"])
    other_seed = ShapesWorld(WorldConfig(level=5, seed=1)).render("train", np.arange(16), ["image"])
    other_split = ShapesWorld(WorldConfig(level=5, seed=0)).render("test", np.arange(16), ["image"])
    assert not np.array_equal(base["image"], other_seed["image"])
    assert not np.array_equal(base["image"], other_split["image"])


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_levels_vary_only_their_attributes(level):
    world = ShapesWorld(WorldConfig(level=level, modalities=("image", "text")))
    codes = world.codes("train", np.arange(600))
    for name in ATTRIBUTES:
        distinct = len(np.unique(codes[name]))
        if name in world.config.varied:
            assert distinct == len(ATTRIBUTES[name]), name
        else:
            assert distinct == 1, name


def test_holdout_absent_from_train_present_in_test():
    cfg = WorldConfig(level=5, holdout=("shape=star,colour=red", "size=small,position=top-left"))
    world = ShapesWorld(cfg)
    star, red = ATTRIBUTES["shape"].index("star"), ATTRIBUTES["colour"].index("red")
    small, tl = ATTRIBUTES["size"].index("small"), ATTRIBUTES["position"].index("top-left")

    def hits(codes):
        return (((codes["shape"] == star) & (codes["colour"] == red))
                | ((codes["size"] == small) & (codes["position"] == tl)))

    for split in ("train", "val"):
        assert not hits(world.codes(split, np.arange(5000))).any(), split
    test = world.codes("test", np.arange(5000))
    assert hits(test).sum() > 50
    held = world.codes("holdout", np.arange(400))
    assert hits(held).all()
    # the other attributes still vary inside the holdout split
    assert len(np.unique(held["background"])) == len(ATTRIBUTES["background"])


def test_clear_errors_for_unknown_names():
    with pytest.raises(WorldError, match="unknown attribute 'shap'.*shape"):
        WorldConfig(holdout=("shap=star",))
    with pytest.raises(WorldError, match="unknown value 'zebra'.*circle"):
        WorldConfig(holdout=("shape=zebra",))
    with pytest.raises(WorldError, match="attribute=value"):
        WorldConfig(holdout=("star",))
    with pytest.raises(WorldError, match="does not vary"):
        WorldConfig(level=1, holdout=("colour=red",))
    with pytest.raises(WorldError, match="unknown level"):
        WorldConfig(level=6)
    with pytest.raises(WorldError, match="unknown modality 'smell'"):
        WorldConfig(modalities=("image", "smell"))
    with pytest.raises(WorldError, match="unknown attribute 'texture'"):
        WorldConfig(attributes=("shape", "texture"))
    with pytest.raises(WorldError, match="unknown split"):
        ShapesWorld(WorldConfig()).codes("training", [0])
    with pytest.raises(WorldError, match="holdout"):
        ShapesWorld(WorldConfig()).codes("holdout", [0])
    with pytest.raises(WorldError, match="unknown key"):
        WorldConfig.from_dict({"levle": 3})


def test_custom_attribute_subset():
    cfg = WorldConfig(attributes=("colour", "background"), modalities=("image",))
    assert cfg.varied == ("colour", "background")
    codes = ShapesWorld(cfg).codes("train", np.arange(300))
    assert len(np.unique(codes["shape"])) == 1
    assert len(np.unique(codes["background"])) == 5


def test_images_show_colour_and_position():
    """The shape's pixels carry its colour, and its centroid lies in its grid cell."""
    n = 9
    codes = {a: np.zeros(n, dtype=np.int64) for a in ATTRIBUTES}
    codes["position"] = np.arange(9)
    codes["colour"] = np.arange(9) % 8
    codes["size"][:] = 2
    imgs = render_images(codes, BatchRandom(0, 0, np.arange(n)), 64, vary_background=False)
    assert imgs.shape == (9, 64, 64, 3) and imgs.dtype == np.uint8
    for i in range(n):
        mask = imgs[i].max(axis=2) > 100
        ys, xs = np.nonzero(mask)
        row, col = divmod(i, 3)
        assert int(xs.mean() // (64 / 3)) == col and int(ys.mean() // (64 / 3)) == row


def test_sprites_are_antialiased_and_distinct():
    banks = {s: sprite_bank(s, 4 * 6) for s in ATTRIBUTES["shape"]}
    for s, bank in banks.items():
        frac = ((bank > 0) & (bank < 1)).mean()
        assert 0 < frac < 0.5, s   # soft edges exist, but most pixels are in or out
    shapes = list(banks)
    for i in range(len(shapes)):
        for j in range(i + 1, len(shapes)):
            assert np.abs(banks[shapes[i]][0] - banks[shapes[j]][0]).sum() > 5


def test_video_moves_as_motion_says():
    names = ATTRIBUTES["motion"]
    n = len(names)
    codes = {a: np.zeros(n, dtype=np.int64) for a in ATTRIBUTES}
    codes["position"][:] = 4
    codes["motion"] = np.arange(n)
    cfg = WorldConfig(level=1, modalities=("video",), video_frames=8, video_size=32)
    world = ShapesWorld(cfg)
    from synesthesia.world.render import render_videos
    vid = render_videos(codes, BatchRandom(0, 0, np.arange(n)), 32, 8, False)
    mask = vid.max(axis=-1) > 100                                 # (N, T, H, W)
    area = mask.sum(axis=(2, 3)).astype(float)
    ys = (mask * np.arange(32)[None, None, :, None]).sum(axis=(2, 3)) / area
    xs = (mask * np.arange(32)[None, None, None, :]).sum(axis=(2, 3)) / area
    d = {name: (xs[k, -1] - xs[k, 0], ys[k, -1] - ys[k, 0], area[k, -1] / area[k, 0])
         for k, name in enumerate(names)}
    assert abs(d["static"][0]) < 0.5 and abs(d["static"][1]) < 0.5
    assert d["up"][1] < -5 and d["down"][1] > 5
    assert d["left"][0] < -5 and d["right"][0] > 5
    assert d["grow"][2] > 2 and d["shrink"][2] < 0.5
    assert world.config.varied == ("shape", "motion")
