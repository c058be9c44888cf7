"""The forced-choice items: the shipped file is clean and balanced, and every kind of defect in
a user's file is reported with its file, line and field."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from valuelocate.data.forced_choice import (
    DOMAINS,
    FORCED_CHOICE_FILE,
    ForcedChoiceItem,
    load_forced_choice,
    validate_forced_choice,
)
from valuelocate.data.schema import BASIC_VALUES, DIMENSIONS, DatasetError

GOOD: dict[str, Any] = {
    "id": "fc-con-001",
    "dimension": "conservation",
    "split": "search",
    "domain": "work",
    "values": ["security"],
    "situation": "Your employer offers a choice between two pension plans with different risks.",
    "affirm": "I'd take the plan with a fixed payout, since I want to know what I'll get.",
    "oppose": "I'd take the plan that could grow more, since I'm happy to take a chance.",
}


def _write(tmp_path: Path, records: list[Any]) -> Path:
    path = tmp_path / "fc.jsonl"
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _pair(**changes: Any) -> list[dict[str, Any]]:
    """A balanced two-item file whose second item carries ``changes``."""
    other = dict(GOOD, id="fc-con-002", split="test")
    other["situation"] = "Your town debates locking the school gates during the whole day."
    return [GOOD, {**other, **changes}]


def test_shipped_file_is_clean() -> None:
    assert validate_forced_choice() == []
    items = load_forced_choice()
    assert len(items) == 320
    assert all(isinstance(i, ForcedChoiceItem) for i in items)
    assert load_forced_choice() == items  # cached read, same content


def test_shipped_splits_are_disjoint_and_balanced() -> None:
    for dim in DIMENSIONS:
        search = load_forced_choice(dimension=dim, split="search")
        test = load_forced_choice(dimension=dim, split="test")
        assert len(search) == len(test) == 40
        assert not {i.id for i in search} & {i.id for i in test}
        assert not {i.situation for i in search} & {i.situation for i in test}
        by_value = Counter((i.values[0], i.split) for i in search + test)
        for value in {i.values[0] for i in search + test}:
            assert value in BASIC_VALUES[dim]
            assert by_value[(value, "search")] == by_value[(value, "test")]
        by_domain = Counter((i.domain, i.split) for i in search + test)
        for domain in DOMAINS:
            assert abs(by_domain[(domain, "search")] - by_domain[(domain, "test")]) <= 1
        assert len({i.domain for i in search + test}) >= 12


def test_shipped_items_have_similar_answers_and_no_giveaways() -> None:
    for item in load_forced_choice():
        a, o = len(item.affirm.split()), len(item.oppose.split())
        assert max(a, o) <= 1.3 * min(a, o), item.id
        assert item.affirm.startswith("I") and item.oppose.startswith("I"), item.id
        assert item.id.startswith(
            {
                "openness_to_change": "fc-otc",
                "conservation": "fc-con",
                "self_transcendence": "fc-str",
                "self_enhancement": "fc-sen",
            }[item.dimension]
        )


def test_a_clean_user_file_loads(tmp_path: Path) -> None:
    path = _write(tmp_path, _pair())
    assert validate_forced_choice(path) == []
    items = load_forced_choice(path=path, split="test")
    assert [i.id for i in items] == ["fc-con-002"]
    assert items[0].values == ("security",)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"dimension": "openness"}, "dimension", "unknown value"),
        ({"split": "train"}, "split", "unknown value"),
        ({"domain": "space"}, "domain", "unknown value"),
        ({"values": ["power"]}, "values", "not a basic value of conservation"),
        ({"values": "security"}, "values", "non-empty list"),
        ({"affirm": "   "}, "affirm", "empty"),
        ({"oppose": 7}, "oppose", "must be a string"),
        ({"id": "con-2"}, "id", "fc-con-NNN"),
        ({"id": "fc-con-001"}, "id", "duplicate id"),
        ({"extra": 1}, "extra", "unknown field"),
        ({"affirm": "I'd keep to the customs."}, "oppose", "differ too much in length"),
        (
            {"affirm": "I'd stick with what is safe and secure, since I want no surprises."},
            "affirm",
            "giveaway word 'secure'",
        ),
        (
            {"oppose": "I'd follow my own path, since tradition means little to me now."},
            "oppose",
            "giveaway word 'tradition'",
        ),
    ],
)
def test_each_defect_is_named_with_file_line_and_field(
    tmp_path: Path, changes: dict[str, Any], field: str, words: str
) -> None:
    path = _write(tmp_path, _pair(**changes))
    issues = validate_forced_choice(path, check_balance=False)
    hits = [i for i in issues if i.field == field and words in i.message]
    assert hits, issues
    assert all(i.path == str(path) and i.line == 2 for i in hits)
    with pytest.raises(DatasetError) as info:
        load_forced_choice(path=path)
    assert f"{path}:2: {field}:" in str(info.value)


def test_missing_field_and_bad_json(tmp_path: Path) -> None:
    broken = {k: v for k, v in GOOD.items() if k != "situation"}
    path = _write(tmp_path, [broken, "{not json", "[1, 2]"])
    issues = validate_forced_choice(path, prompts_path=None, check_balance=False)
    found = {(i.line, i.field) for i in issues}
    assert (1, "situation") in found
    assert (2, None) in found and any("invalid JSON" in i.message for i in issues)
    assert (3, "(record)") in found


def test_situation_from_the_locating_prompts_is_caught(tmp_path: Path) -> None:
    prompts = Path(FORCED_CHOICE_FILE).with_name("prompts.jsonl")
    first = json.loads(prompts.read_text(encoding="utf-8").splitlines()[0])["text"]
    situation = " ".join(first.split(". ")[:2]) + "."
    path = _write(tmp_path, _pair(situation=situation))
    issues = validate_forced_choice(path, check_balance=False)
    assert [(i.line, i.field) for i in issues] == [(2, "situation")]
    assert "locating prompt" in issues[0].message


def test_near_duplicate_within_the_file_is_caught(tmp_path: Path) -> None:
    path = _write(tmp_path, _pair(situation=GOOD["situation"].replace("two", "a pair of")))
    issues = validate_forced_choice(path, prompts_path=None, check_balance=False)
    assert [(i.line, i.field) for i in issues] == [(2, "situation")]
    assert "line 1" in issues[0].message


def test_unbalanced_splits_are_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, _pair(split="search"))
    issues = validate_forced_choice(path, prompts_path=None)
    assert issues and all(i.field == "split" and i.line == 0 for i in issues)
    assert any("conservation: search minus test = 2" in i.message for i in issues)
    assert any("value security" in i.message for i in issues)
    # Loading checks items, not balance: a user may keep one split only.
    assert len(load_forced_choice(path=path)) == 2


def test_unknown_filters_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        load_forced_choice(dimension="openness")
    with pytest.raises(ValueError):
        load_forced_choice(split="train")
    issues = validate_forced_choice(tmp_path / "nope.jsonl")
    assert [i.message for i in issues] == ["file not found"]
