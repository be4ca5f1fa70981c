import numpy as np
import pytest
from torchmetrics.functional.text import bleu_score

from synesthesia.errors import SynesthesiaError
from synesthesia.evaluation import distinct_n, entropy, entropy_ratio, self_bleu
from synesthesia.world import WorldConfig
from synesthesia.world.world import ShapesWorld


@pytest.fixture(scope="module")
def data():
    return ShapesWorld(WorldConfig(level=3, modalities=("text",))).render("train", range(3000))


def test_entropy_closed_form():
    assert entropy([0, 0, 1, 1]) == pytest.approx(np.log(2))
    assert entropy([3, 3, 3]) == 0.0


def test_one_fixed_sample_has_no_diversity(data):
    n = 500
    fixed = {a: np.full(n, c[0]) for a, c in data["codes"].items()}
    ratio = entropy_ratio(fixed, data["codes"], ["size", "colour"])
    assert ratio == {"size": 0.0, "colour": 0.0, "mean": 0.0}
    texts = [data["text"][0]] * 20
    assert self_bleu(texts) == pytest.approx(1.0)
    assert distinct_n(texts, 2) == pytest.approx(1 / 20)


def test_real_samples_match_the_data(data):
    gen = ShapesWorld(WorldConfig(level=3)).codes("test", range(800))
    ratio = entropy_ratio(gen, data["codes"], ["shape", "size", "colour"])
    assert ratio["mean"] == pytest.approx(1.0, abs=0.02)
    # within small groups the plug-in entropy is biased low; the subsampled reference cancels it
    groups = np.repeat(np.arange(100), 8)
    grouped = entropy_ratio(gen, data["codes"], ["shape", "size", "colour"], groups=groups)
    assert grouped["mean"] == pytest.approx(1.0, abs=0.06)
    assert np.isnan(entropy_ratio(gen, data["codes"], ["position"])["position"])   # not varied


def test_entropy_ratio_checks_groups(data):
    with pytest.raises(SynesthesiaError, match="groups"):
        entropy_ratio({"size": np.zeros(4)}, data["codes"], groups=[0, 1])


def test_distinct_n_closed_form():
    assert distinct_n(["a b a b"], 1) == pytest.approx(2 / 4)
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)       # ab, ba, ab
    assert distinct_n(["a"], 2) == 0.0


def test_self_bleu_matches_sentence_bleu_against_the_others():
    texts = ["the red circle is on the left side", "the red square is on the right side",
             "the red circle is on the right side", "a blue circle is on the left side"]
    expected = np.mean([float(bleu_score([t], [[o for o in texts if o is not t]]))
                        for t in texts])
    assert self_bleu(texts) == pytest.approx(expected, rel=1e-6)


def test_varied_captions_are_more_diverse_than_repeats(data):
    varied = data["text"][:200]
    assert self_bleu(varied) < self_bleu(varied[:2] * 100)
    assert distinct_n(varied, 2) > distinct_n(varied[:2] * 100, 2)
    with pytest.raises(SynesthesiaError):
        self_bleu(["one text"])


def test_self_bleu_brevity_penalty_uses_the_closest_other_length():
    texts = ["a b c d e f", "a b c d", "a b c d e f g h i", "b c d e f g h"]
    expected = np.mean([float(bleu_score([t], [[o for o in texts if o is not t]]))
                        for t in texts])
    assert self_bleu(texts) == pytest.approx(expected, rel=1e-6)
