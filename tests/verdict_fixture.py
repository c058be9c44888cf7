"""A hand-made ``verdict.json`` of version 2 (the schema: ``docs/verdict.md``), for the report
and the terminal summary: four dimensions, both instruments, a ladder of six points.

The numbers are invented, chosen so that each case of the verdict appears once:

- Openness to Change beats every null on forced choice (``beats_all``);
- Conservation beats random sets and label shuffles but not word priming (Holm p 0.21) on
  forced choice, and decision pairs cannot read the model (its persona prompt does not
  separate the poles: ``reads`` false);
- Self-Transcendence moves nothing, and its dev rule accepted no point (the default is the
  band);
- Self-Enhancement has nulls that were not measured (JSON null: word priming, the shuffles'
  Holm p, part of the curve).

Example:
    >>> verdict = make_verdict()
    >>> write_verdict(run_dir)  # RUN_DIR/verdict/verdict.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TOTAL_NEURONS = 30 * 1536  # the report fixture's model (tests/report_fixture.py)
LADDER = (("0.1%", 0.001), ("0.5%", 0.005), ("1%", 0.01), ("2%", 0.02), ("5%", 0.05))
BAND_FRACTION = 0.3


def summary(mean: float | None, half: float = 0.05) -> dict[str, float | None]:
    """A summary object: mean and a symmetric 95% CI (all null when the mean is)."""
    if mean is None:
        return {"mean": None, "ci_low": None, "ci_high": None}
    return {"mean": mean, "ci_low": round(mean - half, 4), "ci_high": round(mean + half, 4)}


def reading(
    n: int,
    gap: float,
    *,
    moves: float | None,
    random: tuple[float | None, float | None, float | None],
    shuffles: tuple[float | None, float | None, float | None],
    word: tuple[float | None, float | None],
    prompt: tuple[float, float, bool],
    alpha: float = 0.01,
) -> dict[str, Any]:
    """One instrument's reading at the default point. ``random`` and ``shuffles`` are (low,
    high, p_holm), ``word`` (gap, p_holm), ``prompt`` (gap, p, reads); ``moves`` is its p_holm."""

    def raw(p_holm: float | None) -> float | None:  # an unadjusted p below the Holm one
        return None if p_holm is None else round(p_holm / 4, 5)

    beats_all = prompt[2] and all(
        p is not None and p < alpha for p in (moves, random[2], shuffles[2], word[1])
    )
    return {
        "n": n,
        "edit": {
            "affirm": summary(round(gap * 0.6, 4), 0.04),
            "oppose": summary(round(-gap * 0.4, 4), 0.04),
            "gap": summary(gap),
        },
        "linear": {"gap": round(gap * 0.92, 4), "exact_gap": gap, "ratio": 0.92},
        "random_sets": {
            "count": 20,
            "gaps": [round(random[0] or 0.0, 3)] * 20,
            "low": random[0],
            "high": random[1],
            "p": raw(random[2]),
            "p_rank": 0.048,
            "p_holm": random[2],
            "costs": [1.1] * 20,
        },
        "shuffles": {
            "count": 1000,
            "low": shuffles[0],
            "high": shuffles[1],
            "p": raw(shuffles[2]),
            "p_holm": shuffles[2],
            "cost_sample": [1.1] * 5,
        },
        "word_priming": {
            "gap": summary(word[0]),
            "strength": {"affirm": 1.2, "oppose": 1.1},
            "cost": {"affirm": 1.1, "oppose": 1.1},
            "p": raw(word[1]),
            "p_holm": word[1],
        },
        "prompt": {"gap": summary(prompt[0], 0.1), "p": prompt[1], "reads": prompt[2]},
        "moves": {"p": raw(moves), "p_holm": moves},
        "beats_all": beats_all,
    }


def curve(
    gaps: list[float],
    p_random: list[float],
    p_shuffle: list[float],
    accepted: list[bool],
    *,
    dp_scale: float = 0.4,
) -> list[dict[str, Any]]:
    """Six ladder points, sparsest first, the last one the whole band."""
    points = []
    ladder = [*LADDER, ("band", BAND_FRACTION)]
    for i, (label, fraction) in enumerate(ladder):
        width = 0.01 + 0.08 * fraction**0.5
        gap = gaps[i]
        point: dict[str, Any] = {
            "label": label,
            "neurons": round(fraction * TOTAL_NEURONS),
            "fraction": fraction,
            "gamma": round(40.0 / (1 + 30 * fraction**0.5), 3),
            "cost": 1.1,
        }
        for instrument, scale in (("forced_choice", 1.0), ("decision_pairs", dp_scale)):
            point[instrument] = {
                "gap": round(gap * scale, 4),
                "random_low": round(-width * scale, 4),
                "random_high": round(width * scale * 1.2, 4),
                "shuffle_low": round(-1.6 * width * scale, 4),
                "shuffle_high": round(1.7 * width * scale, 4),
                "p_random": p_random[i] if scale == 1.0 else min(1.0, p_random[i] * 10),
                "p_shuffle": p_shuffle[i] if scale == 1.0 else min(1.0, p_shuffle[i] * 10),
            }
        point["dev"] = {
            "gap": round(gap * 0.9, 4),
            "p_random": p_random[i],
            "p_shuffle": p_shuffle[i],
            "accepted": accepted[i],
        }
        points.append(point)
    return points


def _default(curve_points: list[dict[str, Any]], point: int, chosen_by: str) -> dict[str, Any]:
    chosen = curve_points[point]
    return {
        "point": point,
        "label": chosen["label"],
        "neurons": chosen["neurons"],
        "fraction": chosen["fraction"],
        "accepted": chosen["dev"]["accepted"],
        "chosen_by": chosen_by,
    }


SPARSEST = "the sparsest point the dev rule accepted"


def _openness() -> dict[str, Any]:
    points = curve(
        [0.03, 0.09, 0.12, 0.15, 0.2, 0.3],
        [0.2, 0.004, 0.001, 0.0005, 0.0001, 0.0001],
        [0.3, 0.006, 0.002, 0.001, 0.001, 0.0005],
        [False, True, True, True, True, True],
    )
    return {
        "dimension": "openness_to_change",
        "default": _default(points, 1, SPARSEST),
        "gamma": 5.1,
        "cost": {"affirm": 1.098, "oppose": 1.095},
        "readings": {
            "forced_choice": reading(
                100,
                0.18,
                moves=0.0016,
                random=(-0.02, 0.03, 0.002),
                shuffles=(-0.05, 0.06, 0.003),
                word=(0.05, 0.008),
                prompt=(0.45, 0.0001, True),
            ),  # fmt: skip
            "decision_pairs": reading(
                40,
                0.05,
                moves=0.008,
                random=(-0.03, 0.04, 0.02),
                shuffles=(-0.05, 0.05, 0.04),
                word=(0.04, 0.5),
                prompt=(0.2, 0.01, True),
            ),  # fmt: skip
        },
        "curve": points,
    }


def _conservation() -> dict[str, Any]:
    points = curve(
        [0.02, 0.06, 0.12, 0.14, 0.17, 0.25],
        [0.2, 0.03, 0.001, 0.0005, 0.0001, 0.0001],
        [0.3, 0.004, 0.002, 0.001, 0.001, 0.0005],
        [False, False, True, True, True, True],
    )
    return {
        "dimension": "conservation",
        "default": _default(points, 2, SPARSEST),
        "gamma": 3.2,
        "cost": {"affirm": 1.099, "oppose": 1.081},
        "readings": {
            "forced_choice": reading(
                100,
                0.12,
                moves=0.004,
                random=(-0.02, 0.03, 0.004),
                shuffles=(-0.05, 0.06, 0.006),
                word=(0.15, 0.21),
                prompt=(0.4, 0.0001, True),
            ),  # fmt: skip
            "decision_pairs": reading(
                40,
                0.02,
                moves=0.75,
                random=(-0.03, 0.04, 0.9),
                shuffles=(-0.05, 0.05, 1.0),
                word=(0.01, 1.0),
                prompt=(0.01, 0.4, False),
            ),  # fmt: skip
        },
        "curve": points,
    }


def _self_transcendence() -> dict[str, Any]:
    points = curve(
        [0.0, 0.01, 0.02, 0.01, 0.03, 0.04],
        [0.6, 0.4, 0.3, 0.5, 0.2, 0.1],
        [0.7, 0.5, 0.4, 0.6, 0.3, 0.2],
        [False] * 6,
    )
    return {
        "dimension": "self_transcendence",
        "default": _default(points, 5, "no point passed the dev rule: the densest one"),
        "gamma": 0.8,
        "cost": {"affirm": 1.1, "oppose": 1.1},
        "readings": {
            "forced_choice": reading(
                100,
                0.03,
                moves=0.2,
                random=(-0.04, 0.05, 0.3),
                shuffles=(-0.06, 0.07, 0.4),
                word=(0.08, 0.6),
                prompt=(0.3, 0.001, True),
            ),  # fmt: skip
            "decision_pairs": reading(
                40,
                -0.02,
                moves=1.0,
                random=(-0.03, 0.04, 1.0),
                shuffles=(-0.05, 0.05, 1.0),
                word=(0.02, 1.0),
                prompt=(0.15, 0.02, True),
            ),  # fmt: skip
        },
        "curve": points,
    }


def _self_enhancement() -> dict[str, Any]:
    points = curve(
        [0.01, 0.03, 0.05, 0.09, 0.11, 0.16],
        [0.4, 0.1, 0.02, 0.002, 0.001, 0.0005],
        [0.5, 0.2, 0.03, 0.005, 0.002, 0.001],
        [False, False, False, True, True, True],
    )
    points[-1]["decision_pairs"]["shuffle_low"] = None  # not measured
    points[-1]["decision_pairs"]["shuffle_high"] = None
    points[0]["dev"]["gap"] = None
    return {
        "dimension": "self_enhancement",
        "default": _default(points, 3, SPARSEST),
        "gamma": 2.4,
        "cost": {"affirm": 1.1, "oppose": None},
        "readings": {
            "forced_choice": reading(
                100,
                0.09,
                moves=0.004,
                random=(-0.02, 0.03, 0.004),
                shuffles=(None, None, None),
                word=(None, None),
                prompt=(0.35, 0.0001, True),
            ),  # fmt: skip
            "decision_pairs": reading(
                40,
                0.03,
                moves=0.3,
                random=(None, None, 0.5),
                shuffles=(-0.05, 0.05, 0.6),
                word=(0.02, 0.7),
                prompt=(0.12, 0.03, True),
            ),  # fmt: skip
        },
        "curve": points,
    }


def _study_row(pole: str, shift: float, p: float) -> dict[str, Any]:
    return {
        "config": "study", "dimension": "conservation", "pole": pole, "gamma": 3.5,
        "cost": 1.093, "shift": shift, "ci_low": shift - 0.05, "ci_high": shift + 0.05,
        "control_shift": 0.01, "p_control": p, "n": 100, "neurons": 800,
    }  # fmt: skip


def make_verdict() -> dict[str, Any]:
    """The whole version-2 verdict, as ``json.loads`` would return it."""
    return {
        "format": "valuelocate.Verdict",
        "version": 2,
        "model": "default",
        "budget": "ppl=1.10",
        "alpha": 0.01,
        "seconds": 812.3,
        "rule": (
            "The default is the sparsest ladder point whose dev-split gap beats its random "
            "sets and label shuffles at p < 0.01."
        ),
        "options": {"verdict_items": 100, "budget": "ppl=1.10"},
        "instruments": {
            "forced_choice": "Forced-choice items, test split",
            "decision_pairs": "Decision pairs, test split",
        },
        "dimensions": [_openness(), _conservation(), _self_transcendence(), _self_enhancement()],
        "summary": {
            "forced_choice": {"beats_all": 1, "moves": 3, "reads": 4, "of": 4},
            "decision_pairs": {"beats_all": 0, "moves": 1, "reads": 3, "of": 4},
        },
        "study": [_study_row("affirm", 0.04, 0.03), _study_row("oppose", -0.02, 0.2)],
    }


def write_verdict(run_dir: Path, verdict: dict[str, Any] | None = None) -> Path:
    """Write ``RUN_DIR/verdict/verdict.json`` (strict JSON: no NaN) and return its path."""
    path = Path(run_dir) / "verdict" / "verdict.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(verdict or make_verdict(), indent=1, allow_nan=False))
    return path
