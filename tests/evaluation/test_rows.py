"""`valuelocate.evaluation.rows`: score, leakage and example rows from hand-made
measurements whose figures are worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from valuelocate.data import load_prompts, load_questionnaire
from valuelocate.evaluation import EvaluateOptions
from valuelocate.evaluation.judges import JudgeRating
from valuelocate.evaluation.rows import Measured, example_rows, leakage_rows, score_rows

ITEMS = load_questionnaire()
PROMPTS = load_prompts(dimension="conservation", split="test")[:3]
OPTIONS = EvaluateOptions(bootstrap=100, permutations=100, examples=2)
CONSERVATION = [i for i, item in enumerate(ITEMS) if "conservation" in item.dimensions]


def _measured() -> dict:  # type: ignore[type-arg]
    n = len(ITEMS)
    base_scores = torch.linspace(2.0, 5.0, n, dtype=torch.float64)
    raised = base_scores.clone()
    raised[CONSERVATION] += 1.0  # affirm: +1 on conservation's items only
    nudged = base_scores.clone()
    nudged[CONSERVATION] += 0.25  # the random control: a quarter of it
    nll = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    mass = torch.full((n,), 0.8, dtype=torch.float64)
    good = "I would talk to my family first and then decide together."

    def judge(*scores: float | None) -> dict[str, list[JudgeRating]]:
        return {
            "j": [
                JudgeRating(score=None, malformed=1) if s is None else JudgeRating(score=s, valid=1)
                for s in scores
            ]
        }

    return {
        ("conservation", "none", None): Measured(
            base_scores, mass, nll, PROMPTS, [good, good, "no no no no no"], judge(2, 3, None)
        ),
        ("conservation", "affirm", 1.0): Measured(
            raised, mass, nll + math.log(2.0), PROMPTS, [good, good, good], judge(5, 4, 3)
        ),
        ("conservation", "random_affirm", 1.0): Measured(
            nudged, mass, nll, PROMPTS, [good, "", good], judge(3, 3, 3)
        ),
    }


def _row(rows, **where):  # type: ignore[no-untyped-def]
    (found,) = [r for r in rows if all(getattr(r, k) == v for k, v in where.items())]
    return found


def test_score_rows_by_hand() -> None:
    rows = score_rows(_measured(), items=ITEMS, judge_names=["j"], options=OPTIONS)
    # 3 settings x (4 questionnaire + judge + degenerate) + perplexity for the 2 edits.
    assert len(rows) == 3 * 6 + 2
    n = len(ITEMS)
    shift = len(CONSERVATION) / n  # the overall mean rises by this much
    q_none = _row(rows, measure="questionnaire", condition="none", scored_dimension="conservation")
    q_affirm = _row(rows, measure="questionnaire", condition="affirm",
                    scored_dimension="conservation")  # fmt: skip
    assert q_affirm.mean - q_none.mean == pytest.approx(1.0 - shift)
    assert q_affirm.n == len(CONSERVATION)
    # Against the control (+0.25): the paired difference is 0.75 * (1 - share) on every item.
    assert q_affirm.diff_vs_random == pytest.approx(0.75 * (1.0 - shift))
    assert 0 < q_affirm.p_vs_random <= 1
    assert q_none.p_vs_random is None and q_none.diff_vs_random is None
    ratio = _row(rows, measure="perplexity_ratio", condition="affirm")
    assert ratio.mean == pytest.approx(2.0) and ratio.n == 3
    assert ratio.ci_low == pytest.approx(2.0) and ratio.ci_high == pytest.approx(2.0)
    assert _row(rows, measure="perplexity_ratio", condition="random_affirm").mean == 1.0
    judged = _row(rows, measure="judge:j", condition="none")
    assert (judged.mean, judged.n, judged.n_excluded) == (2.5, 2, 1)
    assert _row(rows, measure="judge:j", condition="affirm").mean == 4.0
    assert _row(rows, measure="degenerate_share", condition="none").mean == pytest.approx(1 / 3)
    control_share = _row(rows, measure="degenerate_share", condition="random_affirm")
    assert control_share.mean == pytest.approx(1 / 3)  # the empty answer
    assert _row(rows, measure="degenerate_share", condition="affirm").mean == 0.0


def test_leakage_rows_are_the_shift_from_none() -> None:
    rows = leakage_rows(_measured(), items=ITEMS, options=OPTIONS)
    assert {r.condition for r in rows} == {"affirm"}, "only steering edits leak"
    share = len(CONSERVATION) / len(ITEMS)
    by_dimension = {r.scored_dimension: r for r in rows}
    assert by_dimension["conservation"].shift == pytest.approx(1.0 - share)
    for dimension, row in by_dimension.items():
        mine = [i for i, item in enumerate(ITEMS) if dimension in item.dimensions]
        both = len(set(mine) & set(CONSERVATION))
        assert row.shift == pytest.approx(both / len(mine) - share), dimension
        assert row.n == len(mine)


def test_example_rows_keep_the_first_answers_of_each_setting() -> None:
    examples = example_rows(_measured(), OPTIONS)
    assert len(examples) == 3 * 2
    first = examples[0]
    assert (first.condition, first.gamma, first.prompt_id) == ("none", None, PROMPTS[0].id)
    assert [e.degenerate for e in examples if e.condition == "random_affirm"] == [False, True]
