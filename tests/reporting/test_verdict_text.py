"""`valuelocate.reporting.verdict_text`: number formats that never print nan, the marks, and
the sentences, from the hand-written version-2 verdict (tests/verdict_fixture.py)."""

from __future__ import annotations

import math

from valuelocate.reporting.verdict_text import (
    DASH,
    beats,
    curve_sentence,
    dimension_sentence,
    fmt_band,
    fmt_ci,
    fmt_num,
    fmt_p,
    instruments,
    mark,
    num,
    reading_of,
    sparsest_beating,
)
from verdict_fixture import make_verdict


def _dimension(name: str) -> dict:  # type: ignore[type-arg]
    return next(d for d in make_verdict()["dimensions"] if d["dimension"] == name)


def test_missing_numbers_are_a_dash_never_nan() -> None:
    for missing in (None, math.nan, math.inf, "0.1", True):
        assert num(missing) is None
        assert fmt_num(missing) == DASH and fmt_p(missing) == DASH
    assert fmt_num(0.123) == "+0.12" and fmt_num(2, 3, sign=False) == "2.000"
    assert fmt_ci({"mean": 0.12, "ci_low": 0.07, "ci_high": None}) == f"+0.12 [+0.07, {DASH}]"
    assert fmt_ci({"mean": None}) == DASH and fmt_ci(None) == DASH
    assert fmt_band({"low": -0.02, "high": 0.03}) == "-0.02..+0.03"
    assert fmt_band({"low": None, "high": None}) == DASH
    assert fmt_p(0.0004) == "< 0.001" and fmt_p(0.2134) == "0.21"


def test_a_third_instrument_is_judged_in_the_sentence_too() -> None:
    dimension = _dimension("conservation")
    dimension["readings"]["choice"] = dimension["readings"]["forced_choice"]
    text = dimension_sentence(dimension, 0.01, ["forced_choice", "decision_pairs", "choice"])
    assert "; on A/B choice, it moves the reading by +0.12 nats between the poles, " in text


def test_marks_and_holm_tests() -> None:
    conservation = _dimension("conservation")
    fc = reading_of(conservation, "forced_choice")
    assert [mark(fc, t, 0.01) for t in ("moves", "random_sets", "shuffles", "word_priming")] == [
        "+", "+", "+", "-",
    ]  # fmt: skip
    assert mark(reading_of(conservation, "decision_pairs"), "moves", 0.01) == "?"
    assert mark(None, "moves", 0.01) == "."
    assert beats({"p_holm": 0.01}, 0.01) is False  # strictly below alpha
    assert beats({"p_holm": None}, 0.01) is None


def test_the_sentence_says_which_nulls_are_beaten_and_when_an_instrument_cannot_read() -> None:
    keys = instruments(make_verdict())
    text = dimension_sentence(_dimension("conservation"), 0.01, keys)
    assert text.startswith("Conservation: on forced choice, the located 1% set (461 neurons) ")
    nulls = "beyond random sets and label shuffles but not beyond word priming (Holm p = 0.21)"
    assert nulls in text
    assert text.endswith(
        "so the instrument cannot read this model (it counts neither for nor against steering)."
    )
    # At a looser alpha, word priming is beaten too.
    assert "beyond random sets, label shuffles and word priming" in dimension_sentence(
        _dimension("conservation"), 0.25, keys
    )
    wrong = dimension_sentence(_dimension("self_transcendence"), 0.01, keys)
    assert "by only -0.02 nats between the poles (the wrong way)" in wrong


def test_the_sparsest_point_needs_both_nulls_measured_and_beaten() -> None:
    curve = [
        {"label": "a", "forced_choice": {"p_random": 0.001, "p_shuffle": None}},
        {"label": "b", "forced_choice": {"p_random": 0.001, "p_shuffle": 0.02}},
        {"label": "c", "forced_choice": {"p_random": 0.005, "p_shuffle": 0.009}},
    ]
    assert sparsest_beating(curve, "forced_choice", 0.01) == curve[2]
    assert sparsest_beating(curve, "decision_pairs", 0.01) is None
    keys = instruments(make_verdict())
    text = curve_sentence(_dimension("openness_to_change"), 0.01, keys)
    sparsest = "the sparsest point that beats both its nulls is"
    assert f"on forced choice {sparsest} 0.5% (230 neurons)" in text
    assert f"on decision pairs {sparsest} the whole band (13,824 neurons)" in text
    conservation = curve_sentence(_dimension("conservation"), 0.01, keys)
    assert "on decision pairs the instrument cannot read this model" in conservation


def test_a_dimension_no_instrument_can_read_still_names_its_set() -> None:
    dimension = _dimension("conservation")
    dimension["readings"]["forced_choice"]["prompt"]["reads"] = False
    text = dimension_sentence(dimension, 0.01, instruments(make_verdict()))
    assert text == (
        "Conservation: the located 1% set (461 neurons) cannot be judged: on forced choice and "
        "decision pairs alike the persona prompt itself does not separate the poles, so no "
        "instrument can read this model."
    )
    del dimension["readings"]["decision_pairs"]["edit"]
    dimension["readings"]["decision_pairs"]["prompt"]["reads"] = True
    text = dimension_sentence(dimension, 0.01, instruments(make_verdict()))
    assert text.startswith("Conservation: the located 1% set (461 neurons) cannot be judged: ")
    assert text.endswith("; on decision pairs the edit's gap was not measured.")
