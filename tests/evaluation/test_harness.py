"""`valuelocate.evaluation.harness`: a whole (tiny) evaluation on the real 260k-parameter
Llama, located at site ``down_in``: the results files, and the judged answers steered where
the neurons were located (issue 9, bug 1)."""

from __future__ import annotations

import csv
import json
from dataclasses import fields

import pytest

from conftest import EVALUATED_GAMMA, EVALUATED_TOKENS, needs_stories
from valuelocate.artifacts import load_neuron_sets
from valuelocate.evaluation import EvaluateOptions, LeakageRow, ScoreRow
from valuelocate.evaluation.conditions import judge_test_prompts
from valuelocate.evaluation.harness import evaluate
from valuelocate.generation import generate_answers
from valuelocate.steering.dynamic import steering_edit
from valuelocate.vocab import CONDITIONS, EDIT_CONDITIONS

pytestmark = needs_stories


def _answers(run_dir):  # type: ignore[no-untyped-def]
    path = run_dir / "evaluation" / "answers.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_evaluate_writes_the_documented_schema(evaluated) -> None:  # type: ignore[no-untyped-def]
    run_dir, result = evaluated
    data = json.loads((run_dir / "evaluation" / "results.json").read_text())
    assert data == result.data
    assert data["format"] == "valuelocate.Evaluation" and data["version"] == 1
    assert data["dimensions"] == ["conservation"] and data["warnings"] == []
    assert data["gammas"] == [EVALUATED_GAMMA] and data["conditions"] == list(CONDITIONS)
    assert data["measures"] == [
        "questionnaire",
        "judge:length",
        "perplexity_ratio",
        "degenerate_share",
    ]
    assert len(data["scored_dimensions"]) == 4
    assert set(data["prompt_baselines"]["conservation"]) == {"affirm", "oppose"}
    assert data["model"]["num_layers"] == 5 and data["options"]["judge_prompts"] == 3
    # The site comes from the run's manifest, not from the options' default.
    assert data["options"]["site"] == "down_in"
    names = [f.name for f in fields(ScoreRow)]
    assert all(list(row) == names for row in data["scores"])

    settings = {(r["condition"], r["gamma"]) for r in data["scores"]}
    expected = {(c, None) for c in CONDITIONS if c not in EDIT_CONDITIONS}
    expected |= {(c, EVALUATED_GAMMA) for c in EDIT_CONDITIONS}
    assert settings == expected
    # Per setting: 4 questionnaire rows, 1 judge, degenerate share; edits add perplexity.
    assert len(data["scores"]) == 3 * 6 + 4 * 7
    for row in data["scores"]:
        steered = row["condition"] in ("affirm", "oppose")
        assert (row["p_vs_random"] is not None) == steered
        assert row["p_vs_random"] is None or 0 < row["p_vs_random"] <= 1
        if row["n"] > 1:
            assert row["ci_low"] <= row["mean"] <= row["ci_high"]
        if row["measure"] == "perplexity_ratio":
            assert row["condition"] in EDIT_CONDITIONS and row["n"] == 22
        if row["measure"] == "questionnaire":
            assert row["n"] >= 8
        if row["measure"] == "judge:length":
            assert row["scored_dimension"] == "conservation"
            assert row["n"] + row["n_excluded"] == 3

    assert len(data["leakage"]) == 2 * 1 * 4
    assert all(list(r) == [f.name for f in fields(LeakageRow)] for r in data["leakage"])
    assert len(data["examples"]) == 7 * 2
    assert {"prompt", "answer", "condition", "gamma"} <= set(data["examples"][0])
    assert data["judges"]["length"]["ratings"] + data["judges"]["length"]["malformed"] == 21


def test_evaluate_csv_and_answers_match_the_json(evaluated) -> None:  # type: ignore[no-untyped-def]
    run_dir, result = evaluated
    with open(run_dir / "evaluation" / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(result.scores)
    assert list(rows[0]) == [f.name for f in fields(ScoreRow)]
    for row, score in zip(rows, result.scores, strict=True):
        assert row["measure"] == score.measure and row["condition"] == score.condition
        assert (row["gamma"] == "") == (score.gamma is None)
        assert float(row["mean"]) == pytest.approx(score.mean)
    answers = _answers(run_dir)
    assert len(answers) == 7 * 3
    none = [a for a in answers if a["condition"] == "none"]
    judge_row = result.select(measure="judge:length", condition="none")[0]
    scores = [a["judges"]["length"]["score"] for a in none]
    valid = [s for s in scores if s is not None]
    assert judge_row.mean == pytest.approx(sum(valid) / len(valid))
    # none's perplexity is the reference of every ratio; leakage is edit minus none.
    q_none = result.select(measure="questionnaire", condition="none")
    q_edit = result.select(measure="questionnaire", condition="affirm", gamma=EVALUATED_GAMMA)
    for leak in (r for r in result.leakage if r.condition == "affirm"):
        before = next(r for r in q_none if r.scored_dimension == leak.scored_dimension)
        after = next(r for r in q_edit if r.scored_dimension == leak.scored_dimension)
        assert leak.shift == pytest.approx(after.mean - before.mean)


def test_judged_answers_are_steered_at_the_runs_site(evaluated, stories_lm) -> None:  # type: ignore[no-untyped-def]
    """A run located at ``down_in`` is judged on answers edited at ``down_in``, not at
    ``act`` (before the fix, the stacked edit had no site and fell back to ``act``)."""
    run_dir, _ = evaluated
    options = EvaluateOptions(max_new_tokens=EVALUATED_TOKENS)
    selection = load_neuron_sets(run_dir)["conservation"]
    prompts = [p.text for p in judge_test_prompts("conservation", 3, seed=options.seed)]
    judged = {
        a["prompt_id"]: a["answer"]
        for a in _answers(run_dir)
        if a["condition"] == "affirm" and a["gamma"] == EVALUATED_GAMMA
    }
    ids = [p.id for p in judge_test_prompts("conservation", 3, seed=options.seed)]

    def answers_at(site: str) -> list[str]:
        edit = steering_edit(
            selection,
            "affirm",
            EVALUATED_GAMMA,
            v=options.v,  # type: ignore[arg-type]
            fraction=options.fraction,
            seed=options.seed,
            clamp=options.clamp,
            site=site,  # type: ignore[arg-type]
        )
        return generate_answers(stories_lm, prompts, config=options.generation(), edit=edit)

    at_down_in = answers_at("down_in")
    assert [judged[i] for i in ids] == at_down_in
    assert answers_at("act") != at_down_in, "the site makes a difference on this run"


def test_evaluate_refuses_an_unknown_dimension(evaluated, stories_lm) -> None:  # type: ignore[no-untyped-def]
    run_dir, _ = evaluated
    with pytest.raises(ValueError, match="no neurons for"):
        evaluate(run_dir, lm=stories_lm, dimensions=["self_enhancement"], judges=[])


def test_evaluate_refuses_bad_options_before_reading_the_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Validation comes first: the (absent) run directory is never read.
    with pytest.raises(ValueError, match="--gammas"):
        evaluate(tmp_path / "absent", gammas=())
    with pytest.raises(ValueError, match="Unknown option 'gama'"):
        evaluate(tmp_path / "absent", gama=(1.0,))
