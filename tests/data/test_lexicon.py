"""The lexicon check with three splits, worked by hand: each split is read by a lexicon fitted
on all the dimension's other splits, not on one of them."""

from __future__ import annotations

import math

import pytest

from valuelocate.data.forced_choice import ForcedChoiceItem
from valuelocate.data.lexicon import fit_lexicon, lexicon_accuracy


def _item(rid: str, split: str, affirm: str, oppose: str) -> ForcedChoiceItem:
    return ForcedChoiceItem(rid, "conservation", split, "work", ("security",), "S?", affirm, oppose)


# search and dev use "calm" for the affirming pole; the two test items reverse it.
ITEMS = [
    _item("t1", "test", "wild", "calm"),
    _item("s1", "search", "calm", "wild"),
    _item("d1", "dev", "calm", "wild"),
    _item("t2", "test", "wild", "calm"),
]


def test_each_split_is_read_by_a_lexicon_of_all_the_other_splits() -> None:
    # dev, read by search+test: affirm words calm 1, wild 2; oppose words wild 1, calm 2; the
    # vocabulary has 2 words, so both denominators are 3 + 2 = 5:
    # calm = log(2/5) - log(3/5) = log(2/3) < 0, wild = log(3/2). d1 affirms with "calm": its
    # score is log(2/3) - log(3/2) < 0, read wrong. (A lexicon of search alone would read it
    # right.) search, read by dev+test, is the same case; test, read by search+dev (calm 2 vs
    # 0: calm = log(3/4) - log(1/4) = log 3), reads both reversed items wrong.
    lexicon = fit_lexicon([i for i in ITEMS if i.split != "dev"])
    assert lexicon["calm"] == pytest.approx(math.log(2 / 3))
    assert lexicon["wild"] == pytest.approx(math.log(3 / 2))
    rows = lexicon_accuracy(ITEMS)
    assert [(r.split, r.fitted_on, r.n, r.accuracy, r.read_right) for r in rows] == [
        ("search", ("dev", "test"), 1, 0.0, ()),
        ("dev", ("search", "test"), 1, 0.0, ()),
        ("test", ("search", "dev"), 2, 0.0, ()),
    ]
    # Without the test split, search and dev read each other right.
    two = lexicon_accuracy([i for i in ITEMS if i.split != "test"])
    assert [(r.split, r.fitted_on, r.accuracy, r.read_right) for r in two] == [
        ("search", ("dev",), 1.0, ("s1",)),
        ("dev", ("search",), 1.0, ("d1",)),
    ]


def test_a_split_with_nothing_to_fit_on_is_left_out() -> None:
    assert lexicon_accuracy([i for i in ITEMS if i.split == "test"]) == []
