import pytest

from synesthesia.errors import SynesthesiaError
from synesthesia.evaluation import cider_d, cider_d_scores, corpus_bleu, tokenize
from synesthesia.world import WorldConfig
from synesthesia.world.world import ShapesWorld


@pytest.fixture(scope="module")
def captions():
    return ShapesWorld(WorldConfig(level=5, modalities=("text",))).render("test", range(300))["text"]


def test_tokenize():
    assert tokenize("A big, red star in the top-left corner.") == \
        ["a", "big", "red", "star", "in", "the", "top", "left", "corner"]


def test_identical_captions_score_the_maximum(captions):
    assert corpus_bleu(captions, captions) == pytest.approx(1.0)
    assert cider_d(captions, captions) == pytest.approx(10.0)


def test_wrong_captions_score_lower(captions):
    shuffled = captions[1:] + captions[:1]
    assert corpus_bleu(shuffled, captions) < 0.6
    assert cider_d(shuffled, captions) < 3.0
    unrelated = ["the quick brown fox jumps over the lazy dog"] * len(captions)
    assert corpus_bleu(unrelated, captions) == pytest.approx(0.0, abs=1e-6)
    assert cider_d(unrelated, captions) == pytest.approx(0.0, abs=1e-6)


def test_cider_d_per_sample_and_multiple_references():
    refs = [["a red circle", "a small red circle"], ["a blue square"], ["a green star"]]
    scores = cider_d_scores(["a red circle", "a pink heart", "a green star"], refs)
    assert scores[1] == 0.0                    # only "a" matches, and every sample has it (IDF 0)
    assert scores[2] == pytest.approx(7.5)               # equal, but has no 4-gram: 3 of 4 orders
    assert 0.0 < scores[0] < 10.0                        # equal to one of two references
    corpus = cider_d(["a red circle", "a pink heart", "a green star"], refs)
    assert corpus == pytest.approx(scores.mean())


def test_cider_d_clips_repeats_and_penalises_length():
    refs = ["a red circle on the left", "a blue square at the top", "a green star in the middle"]
    base = cider_d_scores(["a red circle on the left", "", ""], refs)[0]
    repeated = cider_d_scores(["red red red red circle on the left", "", ""], refs)[0]
    longer = cider_d_scores(["a red circle on the left " + "x " * 12, "", ""], refs)[0]
    assert base == pytest.approx(10.0)
    assert repeated < base and longer < base


def test_bleu_takes_a_list_of_references_and_checks_lengths(captions):
    refs = [[c, "something else"] for c in captions[:5]]
    assert corpus_bleu(captions[:5], refs) == pytest.approx(1.0)
    with pytest.raises(SynesthesiaError, match="reference"):
        corpus_bleu(captions[:3], captions[:2])
    with pytest.raises(SynesthesiaError, match="not one string"):
        cider_d("a caption", ["a caption"])
