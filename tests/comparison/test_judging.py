"""The verdict's statistics: one test per dimension, the positive control, Holm, clean JSON."""

from __future__ import annotations

import math

import numpy as np
import pytest

from valuelocate.comparison.judging import adjust, band, clean, judge, persona, tally, unjudged


def _record(edit: float, word: float, prompt: float, *, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n = 30
    base = rng.normal(0, 0.3, n)
    noise = lambda: rng.normal(0, 0.05, n)  # noqa: E731
    return judge(
        base=base,
        affirm=base + edit / 2 + noise(),
        oppose=base - edit / 2 + noise(),
        word_affirm=base + word / 2 + noise(),
        word_oppose=base - word / 2 + noise(),
        prompt=persona(base + prompt / 2 + noise(), base - prompt / 2 + noise(), seed=seed),
        linear_gap=edit,
        random_gaps=rng.normal(0, 0.01, 20),
        shuffle_gaps=rng.normal(0, 0.01, 200),
        seed=seed,
    )


def test_a_strong_edit_beats_every_null() -> None:
    record = _record(edit=0.5, word=0.1, prompt=0.4)
    assert record["n"] == 30
    assert record["edit"]["gap"]["mean"] == pytest.approx(0.5, abs=0.05)
    assert record["edit"]["affirm"]["mean"] == pytest.approx(0.25, abs=0.05)
    assert record["moves"]["p"] < 1e-3 and record["word_priming"]["p"] < 1e-3
    assert record["random_sets"]["p"] < 1e-3 and record["random_sets"]["p_rank"] == pytest.approx(
        1 / 21
    )
    assert record["shuffles"]["p"] == pytest.approx(1 / 201)
    assert record["prompt"]["reads"]


def test_word_priming_larger_than_the_edit_is_not_beaten() -> None:
    record = _record(edit=0.2, word=0.6, prompt=0.4)
    assert record["moves"]["p"] < 1e-3
    assert record["word_priming"]["p"] > 0.5


def test_a_prompt_that_does_not_separate_the_poles_means_the_instrument_cannot_read() -> None:
    record = _record(edit=0.5, word=0.0, prompt=-0.2)
    assert not record["prompt"]["reads"]
    records = [record, _record(edit=0.5, word=0.0, prompt=0.4, seed=1)]
    adjust(records, alpha=0.01)
    assert [r["beats_all"] for r in records] == [False, True]
    assert tally(records, alpha=0.01) == {"beats_all": 1, "moves": 2, "reads": 1, "of": 2}


def test_holm_is_applied_across_dimensions_per_test() -> None:
    records = [_record(edit=0.5, word=0.1, prompt=0.4, seed=s) for s in range(4)]
    for r, p in zip(records, [0.01, 0.04, 0.03, 0.005], strict=True):
        r["word_priming"]["p"] = p
    adjust(records, alpha=0.01)
    # Hand-worked Holm: sorted 0.005, 0.01, 0.03, 0.04 -> 0.02, 0.03, 0.06, 0.06
    assert [r["word_priming"]["p_holm"] for r in records] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert not any(r["beats_all"] for r in records)


def test_a_dimension_not_measured_stays_in_holms_family_as_p_one() -> None:
    records = [_record(edit=0.5, word=0.1, prompt=0.4, seed=s) for s in range(3)]
    for r, p in zip(records, [0.01, 0.004, 0.02], strict=True):
        r["word_priming"]["p"] = p
    rng = np.random.default_rng(9)
    flat = rng.normal(0, 0.1, 30)
    silent = unjudged(persona(flat, flat + 0.05 + rng.normal(0, 0.01, 30)), 30)
    assert not silent["prompt"]["reads"] and silent["n"] == 30
    records.insert(1, silent)
    adjust(records, alpha=0.01)
    # Hand-worked Holm over four with the unmeasured one as p = 1: sorted 0.004, 0.01, 0.02, 1
    # -> 0.016, 0.03, 0.04, 1; the unmeasured dimension's own Holm p is None
    assert [r["word_priming"]["p_holm"] for r in records] == [
        pytest.approx(0.03),
        None,
        pytest.approx(0.016),
        pytest.approx(0.04),
    ]
    assert silent["beats_all"] is False and silent["moves"] == {"p": None, "p_holm": None}
    assert tally(records, alpha=0.01) == {"beats_all": 0, "moves": 3, "reads": 3, "of": 4}


def test_clean_and_band() -> None:
    assert clean({"a": [math.nan, 1.0, np.float64(math.inf)], "b": "x"}) == {
        "a": [None, 1.0, None],
        "b": "x",
    }
    low, high = band(np.arange(1001, dtype=float))
    assert (low, high) == pytest.approx((25.0, 975.0))
