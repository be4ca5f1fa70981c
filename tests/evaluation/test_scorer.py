"""The contrastive cross-modal scorer, trained on image-caption pairs of the tiny world."""

import json

import pytest
import torch
from safetensors import safe_open

import synesthesia.evaluation as evaluation
from synesthesia.data.batch import MultimodalBatch
from synesthesia.data.sources import WorldSource
from synesthesia.data.store import TensorDataset
from synesthesia.errors import SynesthesiaError
from synesthesia.evaluation.scorer import (
    ContrastiveScorer,
    ScorerError,
    expected_hits,
    get_scorer,
    load_scorer,
    retrieval_metrics,
    train_scorer,
)

POOL = 100
BUDGET = dict(steps=200, batch_size=64, lr=3e-3, embed_dim=32)


@pytest.fixture(scope="module")
def pair(tiny_modalities):
    return {"image": tiny_modalities["image"], "text": tiny_modalities["text"]}


@pytest.fixture(scope="module")
def train_set(tiny_world, pair):
    return WorldSource(tiny_world.config).dataset("train", 1024, pair)


@pytest.fixture(scope="module")
def val_set(tiny_world, pair):
    return WorldSource(tiny_world.config).dataset("val", 200, pair)


@pytest.fixture(scope="module")
def scorer(pair, train_set, val_set):
    return train_scorer(pair, train_set, val_set, seed=0, **BUDGET)


def val_pairs(val_set):
    return val_set.stored["image"].float() / 255, val_set.stored["text"]


# -- quality ---------------------------------------------------------------------------------------
def test_real_pairs_score_higher_than_shuffled_pairs(scorer, val_set):
    image, text = val_pairs(val_set)
    shuffled = text[torch.randperm(len(text), generator=torch.Generator().manual_seed(0))]
    real, fake = scorer.similarity(image, text), scorer.similarity(image, shuffled)
    assert real.shape == (len(image),)
    assert real.mean() > fake.mean() + 0.3
    assert (real > fake).float().mean() > 0.85


def test_held_out_r_precision_is_well_above_chance(scorer):
    held = scorer.info["heldout"]
    assert held["pairs"] == 200 and held["r_precision"]["pool"] == POOL
    assert held["r_precision"]["chance"] == pytest.approx(1 / POOL)
    assert held["r_precision"]["image->text"] > 0.3 and held["r_precision"]["text->image"] > 0.3
    assert held["retrieval"]["pool"] == 200 and held["retrieval"]["image->text/recall@5"] > 0.6
    assert held["similarity"]["paired"] > held["similarity"]["mismatched"] + 0.3
    assert scorer.info["training"]["train_pairs"] == 1024


def test_shuffled_pairs_and_an_untrained_scorer_retrieve_at_chance(scorer, pair, train_set, val_set):
    image, text = val_pairs(val_set)
    shuffled = text[torch.randperm(len(text), generator=torch.Generator().manual_seed(1))]
    result = scorer.retrieval(image, shuffled, k=5, pool=POOL)
    assert result["pool"] == POOL
    assert result["image->text/recall@1"] < 0.05 and result["text->image/recall@1"] < 0.05
    assert result["image->text/recall@5"] < 0.12                     # chance: 0.05
    untrained = train_scorer(pair, train_set, val_set, steps=0, embed_dim=32).info["heldout"]
    assert untrained["r_precision"]["image->text"] < 0.05
    assert untrained["r_precision"]["text->image"] < 0.05


# -- retrieval arithmetic --------------------------------------------------------------------------
def test_ties_count_as_chance_not_as_hits():
    scores = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 2.0, 1.0, 1.0]])
    hits = expected_hits(scores, torch.tensor([0, 2]), k=1)
    assert hits.tolist() == [0.5, 0.0]                             # a tie of two; one ranks higher
    assert expected_hits(scores, torch.tensor([0, 2]), k=2).tolist() == [1.0, 0.5]
    same = torch.nn.functional.normalize(torch.ones(10, 4), dim=1)
    result = retrieval_metrics(same, same, ("a", "b"), k=3, pool=5)
    assert result["a->b/recall@1"] == pytest.approx(1 / 5)
    assert result["b->a/recall@3"] == pytest.approx(3 / 5)


def test_every_query_sees_exactly_pool_candidates():
    z = torch.eye(250)                                             # 250 distinct unit vectors
    perfect = retrieval_metrics(z, z, ("a", "b"), pool=100)        # chunks 0-99, 100-199, 150-249
    assert perfect == {"pool": 100, "a->b/recall@1": 1.0, "b->a/recall@1": 1.0}
    assert retrieval_metrics(z, z, ("a", "b"))["pool"] == 250
    with pytest.raises(ScorerError, match="lower `pool`"):
        retrieval_metrics(z[:50], z[:50], pool=100)


# -- masks -----------------------------------------------------------------------------------------
def test_a_pair_with_a_missing_side_is_excluded(scorer, val_set):
    batch = val_set[list(range(16))]
    full = scorer(batch)
    gone = torch.ones(16, dtype=torch.bool)
    gone[[3, 7]] = False
    garbled = {m: x.clone() for m, x in batch.data.items()}
    garbled["text"][[3, 7]] = garbled["text"][[0, 1]]              # what a missing side holds is ignored
    masked = scorer(MultimodalBatch(garbled, {"image": torch.ones(16, dtype=torch.bool), "text": gone}))
    subset = scorer(val_set[[i for i in range(16) if i not in (3, 7)]])
    assert int(masked["pairs"]) == 14 and int(full["pairs"]) == 16
    assert torch.allclose(masked["loss"], subset["loss"])
    assert not torch.allclose(masked["loss"], full["loss"])


def test_training_and_evaluation_use_only_complete_pairs(pair, val_set):
    masks = {"image": torch.ones(200, dtype=torch.bool), "text": torch.arange(200) % 4 != 0}
    holey = TensorDataset(val_set.stored, masks=masks)
    scorer = train_scorer(pair, holey, holey, epochs=1, batch_size=64, embed_dim=16)
    assert scorer.info["training"]["train_pairs"] == 150
    assert scorer.info["training"]["steps"] == 3                   # ceil(150 / 64)
    assert scorer.info["heldout"]["pairs"] == 150
    complete = TensorDataset({m: x[masks["text"]] for m, x in val_set.stored.items()})
    assert scorer.evaluate(complete) == scorer.info["heldout"]


# -- training, saving, loading ---------------------------------------------------------------------
def test_the_same_seed_gives_the_same_scorer(pair, val_set):
    first, again, other = (train_scorer(pair, val_set, steps=3, embed_dim=16, seed=s) for s in (4, 4, 5))
    for name, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[name]), name
    assert any(not torch.equal(v, other.state_dict()[k]) for k, v in first.state_dict().items())


def test_save_then_load_gives_identical_embeddings(scorer, pair, val_set, tmp_path):
    scorer.save(tmp_path / "s")
    files = {p.relative_to(tmp_path / "s").as_posix() for p in (tmp_path / "s").rglob("*") if p.is_file()}
    assert files == {"scorer.safetensors", "scorer.json", "assets/text/tokenizer.json"}
    info = json.loads((tmp_path / "s" / "scorer.json").read_text())
    assert info["modalities"] == ["image", "text"] and info["embed_dim"] == 32
    assert info["modality_configs"]["image"] == pair["image"].config()
    assert info["heldout"]["r_precision"]["pool"] == POOL and info["training"]["steps"] == 200
    with safe_open(str(tmp_path / "s" / "scorer.safetensors"), "pt") as f:
        assert f.metadata()["format"] == "1"
    image, text = val_pairs(val_set)
    for loaded in (load_scorer(tmp_path / "s", pair), load_scorer(tmp_path / "s")):
        assert loaded.info["source"] == "cache" and loaded.info["heldout"] == scorer.info["heldout"]
        assert torch.equal(loaded.embed("image", image), scorer.embed("image", image))
        assert torch.equal(loaded.embed("text", text), scorer.embed("text", text))


def test_loading_with_other_modalities_fails_clearly(scorer, pair, tmp_path):
    from synesthesia.modalities import build_modality

    scorer.save(tmp_path)
    wider = {"image": build_modality("image", size=16, channels=16, feature_dim=32), "text": pair["text"]}
    with pytest.raises(ScorerError, match="pass the same modalities"):
        load_scorer(tmp_path, wider)
    with pytest.raises(ScorerError, match="no complete scorer"):
        load_scorer(tmp_path / "nothing")


def test_get_scorer_trains_once_then_loads(scorer, pair, val_set, tmp_path):
    calls = []

    def train_fn():
        calls.append(1)
        return train_scorer(pair, val_set, steps=2, embed_dim=16)

    first = get_scorer(tmp_path, "world-abc123", pair, train_fn)
    second = get_scorer(tmp_path, "world-abc123", pair, train_fn)
    assert len(calls) == 1 and first.info["source"] == "trained" and second.info["source"] == "cache"
    assert second.info["key"] == "world-abc123"
    get_scorer(tmp_path, "world-def456", pair, train_fn)
    assert len(calls) == 2
    info = tmp_path / "world-abc123" / "scorer.json"
    info.write_text(json.dumps({**json.loads(info.read_text()), "format": 0}))
    assert get_scorer(tmp_path, "world-abc123", pair, train_fn).info["source"] == "trained"
    assert len(calls) == 3                                         # an older format trains again
    assert not list(tmp_path.rglob("*.tmp*"))                      # nothing half-written left
    with pytest.raises(ScorerError, match="plain folder name"):
        get_scorer(tmp_path, "../elsewhere", pair, train_fn)


# -- errors ----------------------------------------------------------------------------------------
def test_a_scorer_pairs_exactly_two_modalities(tiny_modalities):
    with pytest.raises(ScorerError, match="exactly two modalities") as err:
        ContrastiveScorer(tiny_modalities)
    assert isinstance(err.value, SynesthesiaError) and "one scorer per pair" in str(err.value)
    with pytest.raises(ScorerError, match="exactly two"):
        ContrastiveScorer({"image": tiny_modalities["image"]})


def test_a_modality_missing_from_the_data_fails_clearly(pair, val_set, scorer):
    images_only = TensorDataset({"image": val_set.stored["image"]})
    with pytest.raises(ScorerError, match=r"no 'text' modality \(it has image\)"):
        train_scorer(pair, images_only, steps=1)
    with pytest.raises(ScorerError, match="no 'text' modality"):
        scorer.evaluate(images_only)
    lonely = TensorDataset(val_set.stored, masks={"text": torch.arange(200) == 0})
    with pytest.raises(ScorerError, match="fewer than two samples have both"):
        train_scorer(pair, lonely, steps=1)
    with pytest.raises(ScorerError, match="batch_size >= 2"):
        train_scorer(pair, val_set, steps=1, batch_size=1)
    with pytest.raises(ScorerError, match="embeds image and text, not 'audio'"):
        scorer.embed("audio", torch.zeros(1, 16, 16))


def test_exported_from_the_evaluation_package():
    for name in ("ContrastiveScorer", "ScorerError", "get_scorer", "load_scorer", "train_scorer"):
        assert name in evaluation.__all__ and hasattr(evaluation, name)
