"""The verdict's statistics: one test per dimension and instrument, against every null.

Per item the *gap* of a method is its reading under the affirming condition minus its reading
under the opposing one (nats; > 0 is the right way). Affirm and oppose share one vector, so a
dimension is one hypothesis (METHOD.md section 8). For one instrument and dimension,
:func:`judge` gives, each one-sided and fixed in advance:

- ``moves``: the edit's per-item gaps have a positive mean (sign flips: exact where
  ``2**n <= 100,000``, else 100,000 random patterns with the Monte-Carlo error kept);
- ``random_sets``: the edit's linear gap lies beyond its random same-count sets' linear gaps
  (:func:`~valuelocate.comparison.nulls.prediction_pvalue`; the rank p is kept beside it);
- ``shuffles``: rank of the edit's linear gap among its label shuffles';
- ``word_priming``: the edit's per-item gap exceeds the word-priming control's (sign flips);
- ``prompt`` (the positive control): the persona prompt's gaps have a positive mean; where
  ``p >= 0.05`` the instrument cannot read this model (``reads`` false).

:func:`adjust` then applies Holm across the dimensions for each test and sets ``beats_all``.
Every number is a plain float or ``None`` (never NaN) so that the JSON is clean.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from valuelocate.comparison.nulls import prediction_pvalue
from valuelocate.evaluation.statistics import bootstrap_ci, holm, one_sided_sign_flip, rank_pvalue

FLIPS = 100_000  # sign patterns of a verdict test (exact below 2**17 items)
READS_ALPHA = 0.05  # the positive control's level: fixed before any result
TESTS = ("moves", "random_sets", "shuffles", "word_priming")


def clean(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by ``None`` (recursively)."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, Mapping):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def summary(values: np.ndarray, *, seed: int = 0) -> dict[str, float]:
    """Mean with its 95% bootstrap interval over items."""
    x = np.asarray(values, dtype=float)
    low, high = bootstrap_ci(x, resamples=2000, seed=seed)
    return {"mean": float(np.mean(x)) if x.size else math.nan, "ci_low": low, "ci_high": high}


def band(values: np.ndarray) -> tuple[float, float]:
    """The central 95% of a null's values."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if not x.size:
        return math.nan, math.nan
    return float(np.quantile(x, 0.025)), float(np.quantile(x, 0.975))


def judge(
    *,
    base: np.ndarray,
    affirm: np.ndarray,
    oppose: np.ndarray,
    word_affirm: np.ndarray,
    word_oppose: np.ndarray,
    prompt: dict[str, Any],
    linear_gap: float,
    random_gaps: np.ndarray,
    shuffle_gaps: np.ndarray,
    seed: int = 0,
) -> dict[str, Any]:
    """One instrument's record for one dimension (before Holm; see the module docstring).

    Args:
        base, affirm, oppose: ``[items]`` readings unedited and under the +/- edit (exact).
        word_affirm, word_oppose: under the word-priming control toward each pole.
        prompt: the positive control's record on the same items (:func:`persona`), computed
            once by the caller, which reads it first to decide whether to judge at all.
        linear_gap: the edit's linear gap (the scale its nulls are read on).
        random_gaps, shuffle_gaps: the nulls' linear gaps.
    """
    gap = affirm - oppose
    word_gap = word_affirm - word_oppose
    moves, moves_error = one_sided_sign_flip(gap, flips=FLIPS, seed=seed)
    word_p, word_error = one_sided_sign_flip(gap - word_gap, flips=FLIPS, seed=seed)
    random_low, random_high = band(random_gaps)
    shuffle_low, shuffle_high = band(shuffle_gaps)
    return {
        "n": int(gap.size),
        "edit": {
            "affirm": summary(affirm - base, seed=seed),
            "oppose": summary(oppose - base, seed=seed),
            "gap": summary(gap, seed=seed),
        },
        "moves": {"p": moves, "mc_error": moves_error},
        "random_sets": {
            "count": int(np.size(random_gaps)),
            "gaps": [float(x) for x in np.asarray(random_gaps, dtype=float)],
            "low": random_low,
            "high": random_high,
            "p": prediction_pvalue(linear_gap, random_gaps),
            "p_rank": rank_pvalue(linear_gap, random_gaps),
        },
        "shuffles": {
            "count": int(np.size(shuffle_gaps)),
            "low": shuffle_low,
            "high": shuffle_high,
            "p": rank_pvalue(linear_gap, shuffle_gaps),
        },
        "word_priming": {
            "gap": summary(word_gap, seed=seed),
            "p": word_p,
            "mc_error": word_error,
        },
        "prompt": prompt,
    }


def persona(affirm: np.ndarray, oppose: np.ndarray, *, seed: int = 0) -> dict[str, Any]:
    """The positive control on one instrument: the persona prompts' gap, its one-sided p and
    whether it reads the model (``p < READS_ALPHA``)."""
    gap = np.asarray(affirm, dtype=float) - np.asarray(oppose, dtype=float)
    p, _ = one_sided_sign_flip(gap, flips=FLIPS, seed=seed)
    return {"gap": summary(gap, seed=seed), "p": p, "reads": p < READS_ALPHA}


def unjudged(prompt: dict[str, Any], n: int) -> dict[str, Any]:
    """An instrument's record for a dimension that was not judged: its positive control
    (:func:`persona`) and every test not measured (``p`` None)."""
    return {"n": n, "prompt": prompt, **{test: {"p": None} for test in TESTS}}


def adjust(records: Sequence[dict[str, Any]], *, alpha: float) -> None:
    """Holm across ``records`` (one per dimension, same instrument) for each test; then
    ``beats_all``: the instrument reads the model and every test's Holm p is below ``alpha``."""
    for test in TESTS:
        raw = [r[test]["p"] for r in records]
        # a test not measured (a dimension not judged) counts as p = 1 in the correction,
        # so the others' family stays the four dimensions; its own Holm p stays None
        finite = [p if p is not None and math.isfinite(p) else 1.0 for p in raw]
        for record, p, adjusted in zip(records, raw, holm(finite), strict=True):
            record[test]["p_holm"] = None if p is None else adjusted
    for record in records:
        record["beats_all"] = bool(
            record["prompt"]["reads"] and all(_below(record[t]["p_holm"], alpha) for t in TESTS)
        )


def _below(p: float | None, alpha: float) -> bool:
    return p is not None and p < alpha


def tally(records: Sequence[Mapping[str, Any]], *, alpha: float) -> dict[str, int]:
    """How many dimensions an instrument's edit beats every null in, moves in (Holm), and
    how many the instrument can read."""
    return {
        "beats_all": sum(bool(r["beats_all"]) for r in records),
        "moves": sum(_below(r["moves"].get("p_holm"), alpha) for r in records),
        "reads": sum(bool(r["prompt"]["reads"]) for r in records),
        "of": len(records),
    }


__all__ = [
    "FLIPS",
    "READS_ALPHA",
    "TESTS",
    "adjust",
    "band",
    "clean",
    "judge",
    "persona",
    "summary",
    "tally",
    "unjudged",
]
