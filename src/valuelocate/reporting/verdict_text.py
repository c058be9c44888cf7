"""The verdict in words, from ``RUN_DIR/verdict/verdict.json`` alone (version 2; the schema:
docs/verdict.md): number formats that never print ``nan``, reading the file's objects
defensively, one plain sentence per dimension and one per dimension about the sparsity curve.
The report (:mod:`valuelocate.reporting.verdict`) and the terminal summary
(:func:`valuelocate.reporting.verdict.verdict_lines`) both say them.

Every function here is a pure function of the JSON: a missing or null number prints as an
em dash, never as ``nan``, and a test that was not measured is said to be so.

Example:
    >>> dimension_sentence(verdict["dimensions"][0], 0.01, instruments(verdict))
    'Conservation: on forced choice, the located 1% set (461 neurons) moves the reading ...'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from valuelocate.vocab import dimension_label

DASH = "—"  # what a missing number prints as
INSTRUMENTS = ("forced_choice", "decision_pairs")
# The terminal's two columns are the first two; any other instrument (the opt-in A/B choice
# reading) gets its own line under each dimension's row, and is in the sentences, the forest
# plot and the table.
INSTRUMENT_NAMES = {
    "forced_choice": "forced choice",
    "decision_pairs": "decision pairs",
    "choice": "A/B choice",
}
# The three nulls the edit's gap is tested against, as the sentences name them.
NULLS = (
    ("random_sets", "random sets"),
    ("shuffles", "label shuffles"),
    ("word_priming", "word priming"),
)
# The four tests of the terminal marks: moves (against no edit) and the three nulls.
MARKS = (("moves", "M"), ("random_sets", "R"), ("shuffles", "S"), ("word_priming", "W"))
CANNOT_READ = "instrument cannot read this model"


# --------------------------------------------------------------------------------------------
# Numbers


def num(value: Any) -> float | None:
    """A finite float, or None (null, NaN, infinite, not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def obj(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def fmt_num(value: Any, digits: int = 2, *, sign: bool = True) -> str:
    """``+0.12``; a missing number is an em dash."""
    x = num(value)
    if x is None:
        return DASH
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def fmt_ci(stat: Any, digits: int = 2) -> str:
    """A summary object as ``+0.12 [+0.07, +0.17]`` (dashes where missing)."""
    stat = obj(stat)
    mean = fmt_num(stat.get("mean"), digits)
    if num(stat.get("ci_low")) is None and num(stat.get("ci_high")) is None:
        return mean
    return f"{mean} [{fmt_num(stat.get('ci_low'), digits)}, {fmt_num(stat.get('ci_high'), digits)}]"


def fmt_band(test: Any, low: str = "low", high: str = "high", digits: int = 2) -> str:
    """A null's band as ``-0.02..+0.03``."""
    test = obj(test)
    if num(test.get(low)) is None and num(test.get(high)) is None:
        return DASH
    return f"{fmt_num(test.get(low), digits)}..{fmt_num(test.get(high), digits)}"


def fmt_p(value: Any) -> str:
    """A p-value: two significant digits, ``< 0.001`` below that, a dash when missing."""
    p = num(value)
    if p is None:
        return DASH
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def fmt_count(value: Any) -> str:
    x = num(value)
    return DASH if x is None else f"{round(x):,}"


# --------------------------------------------------------------------------------------------
# Reading the JSON


def alpha_of(verdict: Mapping[str, Any]) -> float:
    return num(verdict.get("alpha")) or 0.01


def dimensions(verdict: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [d for d in verdict.get("dimensions") or [] if isinstance(d, Mapping)]


def instruments(verdict: Mapping[str, Any]) -> list[str]:
    """The instruments in the file's order (both, when it does not list them)."""
    listed = verdict.get("instruments")
    return list(listed) if isinstance(listed, Mapping) and listed else list(INSTRUMENTS)


def instrument_name(key: str) -> str:
    return INSTRUMENT_NAMES.get(key, key.replace("_", " "))


def reading_of(dimension: Mapping[str, Any], instrument: str) -> Mapping[str, Any] | None:
    found = obj(dimension.get("readings")).get(instrument)
    return found if isinstance(found, Mapping) else None


def reads(reading: Mapping[str, Any] | None) -> bool | None:
    """Whether the instrument reads the model (its persona prompt separates the poles); None
    when that was not measured."""
    value = obj(obj(reading).get("prompt")).get("reads")
    return value if isinstance(value, bool) else None


def beats(test: Any, alpha: float) -> bool | None:
    """The test's Holm-adjusted p below ``alpha``; None when it was not measured."""
    p = num(obj(test).get("p_holm"))
    return None if p is None else p < alpha


def mark(reading: Mapping[str, Any] | None, test: str, alpha: float) -> str:
    """``+`` beats at Holm p < alpha, ``-`` does not, ``?`` the instrument cannot read the
    model, ``.`` not measured."""
    if reading is None:
        return "."
    if reads(reading) is False:
        return "?"
    won = beats(reading.get(test), alpha)
    return "." if won is None else "+" if won else "-"


def set_phrase(default: Any) -> str:
    """``the located 1% set (461 neurons)``; the densest point is the whole band."""
    default = obj(default)
    label = str(default.get("label") or "default")
    count = fmt_count(default.get("neurons"))
    if label == "band":
        return f"the whole band ({count} neurons)"
    return f"the located {label} set ({count} neurons)"


def point_phrase(point: Any) -> str:
    """``1% (461 neurons)``; the densest point is the whole band."""
    point = obj(point)
    label = str(point.get("label") or DASH)
    label = "the whole band" if label == "band" else label
    return f"{label} ({fmt_count(point.get('neurons'))} neurons)"


def set_label(default: Any) -> str:
    """``1% (461)`` for tables."""
    default = obj(default)
    return f"{default.get('label') or DASH} ({fmt_count(default.get('neurons'))})"


def _join(words: Sequence[str], last: str = "and") -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


# --------------------------------------------------------------------------------------------
# Sentences


def _nulls_clause(reading: Mapping[str, Any], alpha: float) -> str:
    """``beyond random sets and label shuffles but not beyond word priming (Holm p = 0.21)``."""
    won, lost, lost_p, missing = [], [], [], []
    for key, words in NULLS:
        result = beats(reading.get(key), alpha)
        if result is None:
            missing.append(words)
        elif result:
            won.append(words)
        else:
            lost.append(words)
            lost_p.append(fmt_p(obj(reading.get(key)).get("p_holm")))
    parts = []
    if won:
        parts.append(f"beyond {_join(won)}")
    if len(lost) == 1:
        parts.append(f"{'but ' if won else ''}not beyond {lost[0]} (Holm p = {lost_p[0]})")
    elif lost:
        every = "" if won or missing else "any of "
        parts.append(
            f"{'but ' if won else ''}not beyond {every}{_join(lost, 'or')} "
            f"(Holm p = {', '.join(lost_p)})"
        )
    if missing:
        verb = "was" if len(missing) == 1 else "were"
        parts.append(f"({_join(missing)} {verb} not measured)")
    return " ".join(parts)


def _instrument_clause(
    key: str, reading: Mapping[str, Any] | None, alpha: float, subject: str
) -> tuple[str, bool]:
    """What the edit did on one instrument: ``on forced choice, SUBJECT moves the reading by
    +0.12 nats between the poles, beyond ...``; and whether ``subject`` was used."""
    name = instrument_name(key)
    if reading is None:
        return f"{name} was not read", False
    if reads(reading) is False:
        return (
            f"on {name} the persona prompt itself does not separate the poles, so the "
            f"{CANNOT_READ} (it counts neither for nor against steering)"
        ), False
    gap = num(obj(obj(reading.get("edit")).get("gap")).get("mean"))
    if gap is None:
        return f"on {name} the edit's gap was not measured", False
    moved = beats(reading.get("moves"), alpha)
    verb = "shifts the reading by only" if moved is False else "moves the reading by"
    text = f"on {name}, {subject} {verb} {fmt_num(gap)} nats between the poles"
    if gap < 0:
        text += " (the wrong way)"
    if moved is False:
        p = fmt_p(obj(reading.get("moves")).get("p_holm"))
        text += f", not distinguishable from no edit (Holm p = {p}), and"
    else:
        text += ","
    return f"{text} {_nulls_clause(reading, alpha)}", True


def dimension_sentence(dimension: Mapping[str, Any], alpha: float, keys: Sequence[str]) -> str:
    """One plain sentence per dimension: what the default set does on each instrument, which
    nulls it beats, and where an instrument cannot read the model."""
    name = dimension_label(str(dimension.get("dimension")))
    subject = set_phrase(dimension.get("default"))
    # a dimension the verdict did not measure (no instrument reads it) says so and how
    not_measured = (
        " Its sparsity curve and nulls were not measured (--sweep-unreadable measures them)."
        if dimension.get("measured") is False
        else ""
    )
    if len(keys) > 1 and all(reads(reading_of(dimension, k)) is False for k in keys):
        names = _join([instrument_name(k) for k in keys])
        return (
            f"{name}: {subject} cannot be judged: on {names} alike the persona prompt itself "
            f"does not separate the poles, so no instrument can read this model.{not_measured}"
        )
    clauses, said = [], False
    for key in keys:
        clause, used = _instrument_clause(key, reading_of(dimension, key), alpha,
                                          "it" if said else subject)  # fmt: skip
        clauses.append(clause)
        said = said or used
    if not said:  # no instrument judged the edit: name the set all the same
        clause = "; ".join(clauses) or "nothing was read"
        return f"{name}: {subject} cannot be judged: {clause}.{not_measured}"
    return f"{name}: {'; '.join(clauses)}."


def beats_both(read: Any, alpha: float) -> bool:
    """A curve point's reading on one instrument beats its random sets and its label shuffles
    (``p_random`` and ``p_shuffle`` both measured and below ``alpha``)."""
    p_random, p_shuffle = num(obj(read).get("p_random")), num(obj(read).get("p_shuffle"))
    return p_random is not None and p_shuffle is not None and max(p_random, p_shuffle) < alpha


def sparsest_beating(
    curve: Sequence[Mapping[str, Any]], key: str, alpha: float
) -> Mapping[str, Any] | None:
    """The sparsest curve point whose test-split gap beats its random sets and its label
    shuffles (``p_random`` and ``p_shuffle`` below ``alpha``), or None."""
    return next((point for point in curve if beats_both(point.get(key), alpha)), None)


def curve_points(dimension: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [p for p in dimension.get("curve") or [] if isinstance(p, Mapping)]


def curve_sentence(dimension: Mapping[str, Any], alpha: float, keys: Sequence[str]) -> str:
    """Which is the sparsest ladder point that beats its nulls, per instrument, and what the
    dev rule chose."""
    name = dimension_label(str(dimension.get("dimension")))
    points = curve_points(dimension)
    parts = []
    for key in keys:
        instrument = instrument_name(key)
        if reads(reading_of(dimension, key)) is False:
            parts.append(f"on {instrument} the {CANNOT_READ}")
            continue
        point = sparsest_beating(points, key, alpha)
        if point is None:
            parts.append(f"on {instrument} no point beats both its nulls")
        else:
            parts.append(
                f"on {instrument} the sparsest point that beats both its nulls is "
                f"{point_phrase(point)}"
            )
    default = obj(dimension.get("default"))
    label = default.get("label") or DASH
    chosen = f"the default is {'the whole band' if label == 'band' else label}"
    if default.get("chosen_by"):
        chosen += f" ({default['chosen_by']})"
    return f"{name}: {'; '.join([*parts, chosen])}."
