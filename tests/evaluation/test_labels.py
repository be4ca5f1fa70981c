"""The caption label parser: which class a caption names, as whole words."""

import pytest

from synesthesia.errors import SynesthesiaError
from synesthesia.evaluation.labels import LabelParser

CLASSES = ["t-shirt", "trousers", "shirt", "ankle boot", "bag"]


@pytest.fixture()
def parser():
    return LabelParser(CLASSES, {"trousers": ["trousers", "pair of trousers"], "ankle boot": ["ankle boot",
                                                                                             "ankle boots"]})


def test_whole_words_and_longest_phrases(parser):
    assert parser.parse("a photo of a t-shirt") == 0
    assert parser.parse("grey-scale picture of a shirt") == 2           # "shirt" alone, not inside t-shirt
    assert parser.parse("A Pair of  Trousers") == 1
    assert parser.parse("two ankle boots.") == 3
    assert parser.parse("a handbag") is None                             # no whole word "bag"


def test_no_class_or_two_classes_read_as_none(parser):
    assert parser.parse("a photo of something") is None
    assert parser.parse("a shirt and a bag") is None
    assert parser.parse("a bag, a bag") == 4


def test_accuracy_counts_unreadable_captions_as_wrong(parser):
    assert parser.accuracy(["a bag", "a shirt", "nothing", "a t-shirt"], [4, 2, 2, 2]) == 0.5
    with pytest.raises(SynesthesiaError, match="one label per caption"):
        parser.accuracy(["a bag"], [1, 2])


def test_phrases_for_unknown_classes_are_refused():
    with pytest.raises(SynesthesiaError, match="unknown classes"):
        LabelParser(["a", "b"], {"c": ["c"]})
