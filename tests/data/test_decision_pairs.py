"""Decision pairs and the model-free lexicon check: a balanced file reads at chance, a planted
give-away word is caught and its items named, answers that differ in more than the decision
and unbalanced wordings are reported; the shipped file is clean."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from valuelocate.cli import app
from valuelocate.data.decision_pairs import (
    DECISION_PAIRS_FILE,
    decision_span,
    load_decision_pairs,
    validate_decision_pairs,
)
from valuelocate.data.forced_choice import ForcedChoiceItem
from valuelocate.data.lexicon import fit_lexicon, lexicon_accuracy, lexicon_score
from valuelocate.data.schema import DIMENSIONS

WORDINGS = [("I would accept.", "I would decline."), ("I would go.", "I would stay.")]
SITUATIONS = [  # distinct, so the near-duplicate check stays quiet
    "A neighbour asks you to look after a parrot named Kiwi for a month. Do you agree?",
    "Your cousin proposes a canoe trip down the Danube in late autumn. Do you go along?",
    "The library offers you a volunteer shift sorting antique maps on Sundays. Do you take it?",
    "A friend suggests swapping flats with her for the summer in Lisbon. Do you agree?",
    "Your choir plans a concert in a lighthouse on the coast next spring. Do you join them?",
    "The bakery downstairs offers you an early shift kneading sourdough. Do you take it?",
    "A museum invites you to guide visitors through its fossil hall at weekends. Do you agree?",
    "Your brother wants to rebuild a vintage motorbike with you over winter. Do you join him?",
]


def _record(n: int, split: str, affirm: str, oppose: str, situation: str) -> dict[str, Any]:
    return {
        "id": f"dp-con-{n:03d}",
        "dimension": "conservation",
        "split": split,
        "domain": "leisure",
        "values": ["security"],
        "situation": situation,
        "affirm": affirm,
        "oppose": oppose,
    }


def _balanced() -> list[dict[str, Any]]:
    """Eight items, four per split: each wording is the affirming answer once and the opposing
    answer once in each split."""
    records, n = [], 0
    for split in ("search", "test"):
        for a, b in WORDINGS:
            for affirm, oppose in ((a, b), (b, a)):
                records.append(_record(n + 1, split, affirm, oppose, SITUATIONS[n]))
                n += 1
    return records


def _write(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / "dp.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _item(affirm: str, oppose: str, split: str = "search", rid: str = "x") -> ForcedChoiceItem:
    return ForcedChoiceItem(rid, "conservation", split, "work", ("security",), "S?", affirm, oppose)


def test_decision_span_counts_the_words_of_the_decision() -> None:
    assert decision_span("I would say yes.", "I would say no.") == 1
    assert decision_span("I would do it.", "I would not do it.") == 1
    assert decision_span("I would keep it.", "I would change it.") == 1
    assert decision_span("I would go.", "I would go.") == 0
    # no common start ("i'd" vs "i"), common end "farm": 7 - 1 words of the longer differ
    assert decision_span("I'd sell the farm.", "I would keep the old family farm.") == 6


def test_the_lexicon_is_the_smoothed_log_odds_worked_by_hand() -> None:
    # affirm words: stay(2) home(1); oppose words: go(2) home(1); vocabulary 3, so each side's
    # denominator is 3 + 3 = 6: stay = log(3/6) - log(1/6) = log 3, go = -log 3, home = 0.
    lexicon = fit_lexicon([_item("stay stay home", "go go home")])
    assert lexicon["stay"] == pytest.approx(1.0986123, abs=1e-6)
    assert lexicon["go"] == pytest.approx(-1.0986123, abs=1e-6)
    assert lexicon["home"] == pytest.approx(0.0, abs=1e-12)
    assert (
        lexicon_score(lexicon, _item("stay", "go"))
        > 0
        > lexicon_score(lexicon, _item("go", "stay"))
    )


def test_balanced_decision_pairs_read_at_chance_and_validate_clean(tmp_path: Path) -> None:
    path = _write(tmp_path, _balanced())
    assert validate_decision_pairs(path, prompts_path=None) == []
    rows = lexicon_accuracy(load_decision_pairs(path=path))
    assert [(r.split, r.accuracy, r.read_right, r.fitted_on) for r in rows] == [
        ("search", 0.5, (), ("test",)),
        ("test", 0.5, (), ("search",)),
    ]


def test_a_planted_give_away_word_is_caught_and_its_items_named(tmp_path: Path) -> None:
    records = _balanced()
    for r in records:  # "gladly" marks the affirming answer in every item, both splits
        r["affirm"] = r["affirm"].replace("I would", "I would gladly")
        r["oppose"] = r["oppose"].replace("I would", "I would then")
    issues = validate_decision_pairs(_write(tmp_path, records), prompts_path=None)
    lexicon = [i for i in issues if "lexicon" in i.message]
    assert len(lexicon) == 2  # both splits read right from the answers alone
    assert "reads 1.00" in lexicon[0].message and "dp-con-001" in lexicon[0].message
    assert "conservation, search: a bag-of-words lexicon fitted on test" in lexicon[0].message


def test_unbalanced_wordings_and_long_differences_are_reported(tmp_path: Path) -> None:
    records = _balanced()
    records[1]["affirm"], records[1]["oppose"] = records[0]["affirm"], records[0]["oppose"]
    records[2]["affirm"], records[2]["oppose"] = "I would go now.", "We might stay then."
    issues = validate_decision_pairs(_write(tmp_path, records), prompts_path=None)
    messages = [str(i) for i in issues]
    assert any("'I would accept.' is the affirming answer +2 times" in m for m in messages)
    assert any(":3: oppose: the answers must differ only in the decision" in m for m in messages)


def test_validate_command_names_the_give_away_items(tmp_path: Path) -> None:
    records = _balanced()
    for r in records:
        r["affirm"] = r["affirm"].replace("I would", "I would gladly")
        r["oppose"] = r["oppose"].replace("I would", "I would then")
    result = CliRunner().invoke(app, ["data", "validate", str(_write(tmp_path, records))])
    assert result.exit_code == 1 and "give the pole away in: dp-con-001" in result.output
    clean = CliRunner().invoke(app, ["data", "validate", str(_write(tmp_path, _balanced()))])
    assert clean.exit_code == 0, clean.output
    lines = clean.output.splitlines()
    assert "(0.50: chance; must lie in 0.40-0.60)." in clean.output
    assert "conservation        test    search               4        0.50" in lines
    assert all(len(line) <= 80 for line in lines if str(tmp_path) not in line)


def test_decision_pairs_keep_two_splits(tmp_path: Path) -> None:
    # The forced-choice items' dev split is not one of the decision pairs'.
    records = _balanced()
    records[4]["split"] = "dev"
    issues = validate_decision_pairs(_write(tmp_path, records), prompts_path=None)
    assert any(i.line == 5 and i.field == "split" and "unknown value" in i.message for i in issues)
    with pytest.raises(ValueError, match="Unknown split 'dev'"):
        load_decision_pairs(path=_write(tmp_path, _balanced()), split="dev")


@pytest.mark.skipif(not DECISION_PAIRS_FILE.is_file(), reason="no shipped decision pairs yet")
def test_the_shipped_decision_pairs_are_clean_and_at_chance() -> None:
    assert validate_decision_pairs() == []
    for dimension in DIMENSIONS:
        assert len(load_decision_pairs(dimension=dimension, split="test")) >= 40
    assert all(0.4 <= r.accuracy <= 0.6 for r in lexicon_accuracy(load_decision_pairs()))
