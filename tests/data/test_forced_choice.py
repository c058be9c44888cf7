"""The forced-choice items: the shipped file is clean and balanced in its three splits (40
search, 40 dev and, once appended, 100 test items per dimension), and every kind of defect in a
user's file is reported with its file, line and field."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from valuelocate.data.forced_choice import (
    DOMAINS,
    FORCED_CHOICE_FILE,
    FORCED_CHOICE_SPLITS,
    MAX_VALUE_SPREAD,
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
    other = dict(GOOD, id="fc-con-002", split="dev")
    other["situation"] = "Your town debates locking the school gates during the whole day."
    return [GOOD, {**other, **changes}]


def test_shipped_file_is_clean() -> None:
    assert validate_forced_choice() == []
    items = load_forced_choice()
    assert len(items) in (320, 720)  # 720 once the 100 test items per dimension are appended
    assert all(isinstance(i, ForcedChoiceItem) for i in items)
    assert load_forced_choice() == items  # cached read, same content


def test_shipped_splits_are_disjoint_and_balanced() -> None:
    assert FORCED_CHOICE_SPLITS == ("search", "dev", "test")
    for dim in DIMENSIONS:
        search = load_forced_choice(dimension=dim, split="search")
        dev = load_forced_choice(dimension=dim, split="dev")
        test = load_forced_choice(dimension=dim, split="test")
        # dev is the old test split, relabelled; the new test split is written separately.
        assert (len(search), len(dev)) == (40, 40) and len(test) in (0, 100)
        every = search + dev + test
        assert len({i.id for i in every}) == len({i.situation for i in every}) == len(every)
        # The search/dev pair keeps the old guarantee: the same count of each value, domains
        # at most one apart.
        by_value = Counter((i.values[0], i.split) for i in every)
        for value in {i.values[0] for i in every}:
            assert value in BASIC_VALUES[dim]
            assert by_value[(value, "search")] == by_value[(value, "dev")]
        by_domain = Counter((i.domain, i.split) for i in every)
        for domain in DOMAINS:
            assert abs(by_domain[(domain, "search")] - by_domain[(domain, "dev")]) <= 1
        assert len({i.domain for i in search + dev}) >= 12
        # The new test split: ids from 101, its values as even as 100 items allow (34/33/33,
        # 50/50) and no domain over a quarter of it.
        assert all(int(i.id.rsplit("-", 1)[1]) >= 101 for i in test)
        if test:
            counts = [by_value[(value, "test")] for value in BASIC_VALUES[dim]]
            assert max(counts) - min(counts) <= 1, counts
            assert max(by_domain[(domain, "test")] for domain in DOMAINS) <= 25


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
    items = load_forced_choice(path=path, split="dev")
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


def _items(*specs: tuple[str, str, str]) -> list[dict[str, Any]]:
    """Conservation items of the given (split, value, domain), each with its own situation
    (made-up words, so that no two overlap)."""
    return [
        dict(
            GOOD,
            id=f"fc-con-{n:03d}",
            split=split,
            values=[value],
            domain=domain,
            situation=" ".join(f"zq{n}w{k}" for k in range(6)) + ".",
        )  # fmt: skip
        for n, (split, value, domain) in enumerate(specs, start=1)
    ]


def _split(split: str, counts: dict[str, int]) -> list[tuple[str, str, str]]:
    """``sum(counts)`` items of ``split``: each value its count, the domains in turn."""
    values = [v for v, k in counts.items() for _ in range(k)]
    return [(split, v, DOMAINS[n % len(DOMAINS)]) for n, v in enumerate(values)]


def _balance(tmp_path: Path, specs: list[tuple[str, str, str]]) -> list[str]:
    path = _write(tmp_path, _items(*specs))
    issues = validate_forced_choice(path, prompts_path=None)
    assert all(i.field == "split" and i.line == 0 and i.path == str(path) for i in issues)
    return [i.message for i in issues]


THREE = {"security": 34, "conformity": 33, "tradition": 33}


def test_balanced_splits_of_40_40_and_100_items_are_clean(tmp_path: Path) -> None:
    # The shipped pattern (14/13/13 in search and dev) and a 100-item test split of 34/33/33.
    forty = {"security": 14, "conformity": 13, "tradition": 13}
    specs = _split("search", forty) + _split("dev", forty) + _split("test", THREE)
    assert _balance(tmp_path, specs) == []
    # A user may keep fewer splits: a file without dev has no search/dev pair to compare.
    assert _balance(tmp_path, _split("search", forty) + _split("test", THREE)) == []


def test_a_planted_value_imbalance_within_a_split_is_reported(tmp_path: Path) -> None:
    skewed = {"security": 35, "conformity": 33, "tradition": 32}  # 3 apart
    messages = _balance(tmp_path, _split("search", THREE) + _split("test", skewed))
    assert messages == [
        "conservation, test: unbalanced values (security 35, conformity 33, tradition 32; "
        f"at most {MAX_VALUE_SPREAD} apart)"
    ]


def test_a_domain_over_a_quarter_of_a_split_is_reported(tmp_path: Path) -> None:
    specs = _split("test", THREE)  # 7 or 8 items per domain, 7 in work
    others = [n for n, (_, _, domain) in enumerate(specs) if domain != "work"]
    for n in others[:18]:  # 25 of the 100 items in work: a quarter is allowed
        specs[n] = (specs[n][0], specs[n][1], "work")
    assert _balance(tmp_path, specs) == []
    specs[others[18]] = (specs[others[18]][0], specs[others[18]][1], "work")
    assert _balance(tmp_path, specs) == [
        "conservation, test: domain work holds 26 of 100 items (at most 25: 25% of the split, "
        "rounded up)"
    ]


def test_the_search_dev_pair_keeps_its_old_guarantee(tmp_path: Path) -> None:
    # Each split balanced on its own, but search has two more items than dev, and two more
    # security items.
    search = _split("search", {"security": 5, "conformity": 4, "tradition": 4})
    dev = _split("dev", {"security": 3, "conformity": 4, "tradition": 4})
    messages = _balance(tmp_path, search + dev)
    assert "unbalanced splits for conservation: search minus dev = +2 (at most 1)" in messages
    assert (
        "unbalanced splits for conservation, value security: search minus dev = +2 (at most 1)"
        in messages
    )
    # Loading checks items, not balance: a user may keep one split only.
    path = _write(tmp_path, _items(*(search + dev)))
    assert len(load_forced_choice(path=path)) == len(search + dev)


def test_unknown_filters_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        load_forced_choice(dimension="openness")
    with pytest.raises(ValueError):
        load_forced_choice(split="train")
    assert load_forced_choice(split="dev")  # the three splits are known
    issues = validate_forced_choice(tmp_path / "nope.jsonl")
    assert [i.message for i in issues] == ["file not found"]
