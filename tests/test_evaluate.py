"""Evaluation on the real 260k-parameter Llama: questionnaire oracle, option tokens, cost,
statistics, and the results files of a whole (tiny) evaluation."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from valuelocate.data import load_questionnaire
from valuelocate.evaluation import EvaluateOptions, LeakageRow, ScoreRow, evaluate, parse_gammas
from valuelocate.evaluation.cost import distinct_n, is_degenerate, text_nll
from valuelocate.evaluation.judges import JudgeRating
from valuelocate.evaluation.questionnaire import (
    OPTION_LETTERS,
    centred_scores,
    expected_score,
    option_token_ids,
    questionnaire_scores,
    questionnaire_text,
)
from valuelocate.evaluation.statistics import bootstrap_ci, paired_permutation_pvalue
from valuelocate.generation import generate_answers, generate_stacked
from valuelocate.hooks import NeuronEdit, edit_neurons
from valuelocate.locating import LocateOptions, locate
from valuelocate.models import ModelLoadError, default_model_dir, load_model
from valuelocate.prompting import format_prompts
from valuelocate.vocab import CONDITIONS, EDIT_CONDITIONS

from tiny_models import STORIES

needs_stories = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")
EDIT = NeuronEdit({1: [3, 40, 100], 3: [7]}, lambda a: a + 2.0)


@pytest.fixture(scope="module")
def lm():  # type: ignore[no-untyped-def]
    return load_model(str(STORIES))


# ------------------------------------------------------------------ option tokens


def _check_options(tokenizer) -> None:  # type: ignore[no-untyped-def]
    options = option_token_ids(tokenizer)
    assert len(options.ids) == 6 and all(options.ids)
    for letter, ids in zip(OPTION_LETTERS, options.ids, strict=True):
        for token_id in ids:
            assert tokenizer.decode([token_id]).strip() == letter
    flat = [i for ids in options.ids for i in ids]
    assert len(flat) == len(set(flat)), "no token counts for two options"


@needs_stories
def test_option_tokens_of_the_sentencepiece_tokenizer() -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(STORIES))
    options = option_token_ids(tokenizer)
    # '▁B' exists but '▁A' does not: the spaced spelling is not used for any letter.
    assert options.variants == ("bare",)
    _check_options(tokenizer)


def test_option_tokens_of_the_embedded_model() -> None:
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(default_model_dir()))
    except ModelLoadError as exc:
        pytest.skip(str(exc))
    options = option_token_ids(tokenizer)
    assert options.variants == ("bare", "spaced")
    assert all(len(ids) == 2 for ids in options.ids)
    _check_options(tokenizer)


# ------------------------------------------------------------------ questionnaire oracle


def _manual_scores(lm, items, edit=None) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """One unpadded forward per item, probabilities read by hand."""
    options = option_token_ids(lm.tokenizer)
    texts = format_prompts(lm.tokenizer, [questionnaire_text(i.text, chat=False) for i in items])
    out = []
    for text in texts:
        ids = lm.tokenizer(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            if edit is None:
                logits = lm.model(input_ids=ids).logits[0, -1]
            else:
                with edit_neurons(lm.model, edit, scope="all"):
                    logits = lm.model(input_ids=ids).logits[0, -1]
        probs = torch.softmax(logits.double(), -1)
        six = torch.stack([probs[list(ids_)].sum() for ids_ in options.ids])
        six = six / six.sum()
        out.append(float(sum((k + 1) * six[k] for k in range(6))))
    return torch.tensor(out, dtype=torch.float64)


@needs_stories
@pytest.mark.parametrize("share_prefix", [True, False])
@pytest.mark.parametrize("edit", [None, EDIT], ids=["none", "edit"])
def test_questionnaire_equals_manual_computation(lm, share_prefix, edit) -> None:  # type: ignore[no-untyped-def]
    items = load_questionnaire()[:3]
    options = option_token_ids(lm.tokenizer)
    scores, mass = questionnaire_scores(
        lm, items, options=options, edit=edit, batch_size=3, share_prefix=share_prefix
    )
    torch.testing.assert_close(scores, _manual_scores(lm, items, edit), rtol=0, atol=1e-4)
    assert scores.shape == (3,) and bool(((scores >= 1) & (scores <= 6)).all())
    assert bool(((mass > 0) & (mass <= 1)).all())


@needs_stories
def test_the_edit_moves_the_questionnaire(lm) -> None:  # type: ignore[no-untyped-def]
    items = load_questionnaire()[:4]
    options = option_token_ids(lm.tokenizer)
    plain, _ = questionnaire_scores(lm, items, options=options)
    big = NeuronEdit({layer: list(range(172)) for layer in range(5)}, lambda a: a + 3.0)
    edited, _ = questionnaire_scores(lm, items, options=options, edit=big)
    assert not torch.allclose(plain, edited)


def test_expected_and_centred_scores_by_hand() -> None:
    probs = torch.tensor([[1.0, 0, 0, 0, 0, 0], [0, 0, 0.5, 0.5, 0, 0]], dtype=torch.float64)
    assert expected_score(probs).tolist() == [1.0, 3.5]
    items = load_questionnaire()
    scores = torch.arange(len(items), dtype=torch.float64)
    mine = [i for i, item in enumerate(items) if "conservation" in item.dimensions]
    centred = centred_scores(scores, items, "conservation")
    assert centred.tolist() == [i - (len(items) - 1) / 2 for i in mine]


# ------------------------------------------------------------------ cost


@needs_stories
def test_text_nll_equals_manual_computation(lm) -> None:  # type: ignore[no-untyped-def]
    texts = ["The cat sat on the mat.", "Once upon a time there was a big red ball.", "Hi."]
    got = text_nll(lm, texts, edit=EDIT, batch_size=2)
    for text, value in zip(texts, got.tolist(), strict=True):
        ids = lm.tokenizer(text, return_tensors="pt")["input_ids"]
        with torch.no_grad(), edit_neurons(lm.model, EDIT, scope="all"):
            logits = lm.model(input_ids=ids).logits[0, :-1].double()
        nll = torch.nn.functional.cross_entropy(logits, ids[0, 1:])
        assert value == pytest.approx(float(nll), abs=1e-4)


def test_degenerate_answers() -> None:
    assert is_degenerate("")
    assert is_degenerate("I think that " * 8)
    assert is_degenerate("no no no no I would not")
    assert is_degenerate("Yes" + "!" * 20)
    assert not is_degenerate("I would talk to my family first and then decide together.")
    assert not is_degenerate("No, no, no.")
    assert distinct_n(["a", "b", "a", "b", "a", "b"], 2) == pytest.approx(2 / 5)


@needs_stories
@pytest.mark.parametrize("share_prefill", [True, False])
def test_stacked_generation_equals_separate_generations(lm, share_prefill) -> None:  # type: ignore[no-untyped-def]
    options = EvaluateOptions(max_new_tokens=5, batch_size=4).generation()  # 2 settings a batch
    prompts = ["Tom had a ball.", "The sun was hot and the"]
    other = NeuronEdit({2: [0, 1, 2]}, lambda a: a - 1.5)
    edits = [None, EDIT, other]
    stacked = generate_stacked(lm, prompts, edits, config=options, share_prefill=share_prefill)
    separate = [generate_answers(lm, prompts, config=options, edit=e) for e in edits]
    assert stacked == separate
    assert stacked[0] != stacked[1] or stacked[0] != stacked[2], "the edits do something"


# ------------------------------------------------------------------ statistics


def test_bootstrap_ci_contains_the_mean_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(0)
    small, large = rng.normal(2.0, 1.0, 20), rng.normal(2.0, 1.0, 500)
    widths = []
    for values in (small, large):
        low, high = bootstrap_ci(values, resamples=1000, seed=1)
        assert low < values.mean() < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 3
    assert bootstrap_ci([], resamples=10) == (pytest.approx(math.nan, nan_ok=True),) * 2
    assert bootstrap_ci([3.0, math.nan]) == (3.0, 3.0)
    again = bootstrap_ci(small, resamples=1000, seed=1)
    assert again == bootstrap_ci(small, resamples=1000, seed=1), "seeded"


def test_paired_permutation_pvalue() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, 40)
    assert paired_permutation_pvalue(a, a) == 1.0
    noise = a + rng.normal(0.0, 0.1, 40)
    assert paired_permutation_pvalue(noise, a, permutations=2000) > 0.05
    shifted = a + 0.5 + rng.normal(0.0, 0.1, 40)
    assert paired_permutation_pvalue(shifted, a, permutations=2000) < 0.001
    # Small n: every sign pattern is enumerated; all-positive differences give 2 / 2**n.
    assert paired_permutation_pvalue([1.0, 2, 3, 4], [0.0, 0, 0, 0]) == 2 / 16
    assert paired_permutation_pvalue([1.0, math.nan], [0.0, 5.0]) == 1.0


def test_parse_gammas() -> None:
    assert parse_gammas("0, 0.5,2") == (0.0, 0.5, 2.0)
    with pytest.raises(ValueError, match="--gammas"):
        parse_gammas("0,strong")


# ------------------------------------------------------------------ a whole evaluation


class LengthJudge:
    """A judge whose verdict is known: the answer's length, clipped to 1..5; it cannot rate
    answers that hold an 'x' (for the exclusion count)."""

    name = "length"

    def rate(self, dimension, prompts, answers):  # type: ignore[no-untyped-def]
        return [
            JudgeRating(score=None, malformed=1)
            if "x" in a
            else JudgeRating(score=float(min(max(len(a), 1), 5)), valid=1)
            for a in answers
        ]


@pytest.fixture(scope="module")
def evaluated(lm, tmp_path_factory):  # type: ignore[no-untyped-def]
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    options = LocateOptions(
        model=str(STORIES),
        dimensions=("conservation",),
        prompts_per_pole=3,
        max_new_tokens=4,
        batch_size=3,
        checkpoint_seconds=0.0,
        # A high threshold keeps the sets small, so a random control fits in each layer.
        method_params={"min_required": 10, "threshold": 0.4},
    )
    locate(options, run_dir, lm=lm)
    result = evaluate(
        run_dir,
        lm=lm,
        gammas=(2.0,),
        judges=[LengthJudge()],
        judge_prompts=3,
        max_new_tokens=4,
        bootstrap=200,
        permutations=200,
    )
    return run_dir, result


@needs_stories
def test_evaluate_writes_the_documented_schema(evaluated) -> None:  # type: ignore[no-untyped-def]
    run_dir, result = evaluated
    data = json.loads((run_dir / "evaluation" / "results.json").read_text())
    assert data == result.data
    assert data["format"] == "valuelocate.Evaluation" and data["version"] == 1
    assert data["dimensions"] == ["conservation"] and data["warnings"] == []
    assert data["gammas"] == [2.0] and data["conditions"] == list(CONDITIONS)
    assert data["measures"] == [
        "questionnaire",
        "judge:length",
        "perplexity_ratio",
        "degenerate_share",
    ]
    assert len(data["scored_dimensions"]) == 4
    assert set(data["prompt_baselines"]["conservation"]) == {"affirm", "oppose"}
    assert data["model"]["num_layers"] == 5 and data["options"]["judge_prompts"] == 3
    names = [f.name for f in fields(ScoreRow)]
    assert all(list(row) == names for row in data["scores"])

    settings = {(r["condition"], r["gamma"]) for r in data["scores"]}
    expected = {(c, None) for c in CONDITIONS if c not in EDIT_CONDITIONS}
    expected |= {(c, 2.0) for c in EDIT_CONDITIONS}
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


@needs_stories
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
    answers = [
        json.loads(line)
        for line in (run_dir / "evaluation" / "answers.jsonl").read_text().splitlines()
    ]
    assert len(answers) == 7 * 3
    none = [a for a in answers if a["condition"] == "none"]
    judge_row = result.select(measure="judge:length", condition="none")[0]
    scores = [a["judges"]["length"]["score"] for a in none]
    valid = [s for s in scores if s is not None]
    assert judge_row.mean == pytest.approx(sum(valid) / len(valid))
    # none's perplexity is the reference of every ratio; leakage is edit minus none.
    q_none = result.select(measure="questionnaire", condition="none")
    q_edit = result.select(measure="questionnaire", condition="affirm", gamma=2.0)
    for leak in (r for r in result.leakage if r.condition == "affirm" and r.gamma == 2.0):
        before = next(r for r in q_none if r.scored_dimension == leak.scored_dimension)
        after = next(r for r in q_edit if r.scored_dimension == leak.scored_dimension)
        assert leak.shift == pytest.approx(after.mean - before.mean)


@needs_stories
def test_evaluate_refuses_an_unknown_dimension(evaluated, lm) -> None:  # type: ignore[no-untyped-def]
    run_dir, _ = evaluated
    with pytest.raises(ValueError, match="no neurons for"):
        evaluate(run_dir, lm=lm, dimensions=["self_enhancement"], judges=[])


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="dimension"):
        EvaluateOptions(dimensions=("kindness",)).validate()
    with pytest.raises(ValueError, match="scope"):
        EvaluateOptions(edit_scope="answer").validate()  # type: ignore[arg-type]


def test_command_line_options(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from valuelocate.cli.evaluate import evaluate_command

    app = typer.Typer()
    app.command()(evaluate_command)
    runner = CliRunner()
    shown = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    for option in ("--gammas", "--judge", "--judge-prompts", "--judge-api-key-env", "--edit-scope"):
        assert option in shown.output
    bad = runner.invoke(app, [str(tmp_path), "--gammas", "0,strong"])
    assert isinstance(bad.exception, ValueError) and "--gammas" in str(bad.exception)


def _set(pole: str, indices: list[int]):  # type: ignore[no-untyped-def]
    from valuelocate.selection import NeuronSet

    k = len(indices)
    ones = torch.ones(k, dtype=torch.float64)
    return NeuronSet(
        pole,  # type: ignore[arg-type]
        "delta-p",
        {},
        (1, 20),
        torch.zeros(k, dtype=torch.long),
        torch.tensor(indices),
        ones * 0.5,
        ones * 0.5,
        ones,
        ones,
    )


def test_random_control_falls_back_when_the_located_sets_fill_a_layer() -> None:
    from valuelocate.evaluation import steering_edits
    from valuelocate.selection import Selection

    selections = {
        "conservation": Selection(_set("affirm", [0, 1, 2, 3]), _set("oppose", [4, 5, 6])),
        "self_enhancement": Selection(
            _set("affirm", list(range(7, 16))), _set("oppose", [16, 17, 18])
        ),
    }
    warnings: list[str] = []
    make = steering_edits(selections, EvaluateOptions(), warnings=warnings)
    edit = make("conservation", "random_affirm", 1.0)
    assert list(edit.layers()) == [0]
    assert len(warnings) == 1 and "own neuron sets" in warnings[0]
    make("conservation", "random_oppose", 1.0)
    assert len(warnings) == 1, "one line per dimension"
    make("conservation", "affirm", 1.0)
    with pytest.raises(ValueError, match="edits no neuron"):
        make("conservation", "none", 1.0)
