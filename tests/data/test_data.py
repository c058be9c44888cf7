"""Tests of the ValueInsight dataset, its loaders, builder, validator and statistics."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from valuelocate.data import (
    ANSWER_SCALE,
    BASIC_VALUES,
    DIMENSIONS,
    KINDS,
    POLES,
    SPLITS,
    Description,
    QuestionnaireItem,
    SituationalPrompt,
    data_file,
    dataset_hash,
    load_descriptions,
    load_prompts,
    load_questionnaire,
    record_to_dict,
    summary,
    validate_file,
)
from valuelocate.data.builder import DOMAINS, build_prompts, to_jsonl
from valuelocate.data.neutrality import NEUTRALITY_BANNED, POLE_WORDS, neutrality_violations
from valuelocate.data.parts import QUESTIONS, PartsError, load_situations, situations_from_json
from valuelocate.data.stats import jaccard, near_duplicates, shingles

# --- counts and ids ---------------------------------------------------------------------------


def test_description_counts() -> None:
    descriptions = load_descriptions()
    assert len(descriptions) == 640
    assert all(isinstance(d, Description) for d in descriptions)
    counts = Counter((d.dimension, d.pole) for d in descriptions)
    assert counts == {(dim, pole): 80 for dim in DIMENSIONS for pole in POLES}
    for d in descriptions:
        assert d.values and set(d.values) <= set(BASIC_VALUES[d.dimension])
    # the filters agree with the counts
    assert len(load_descriptions(dimension="conservation", pole="oppose")) == 80
    assert len(load_descriptions(pole="affirm")) == 320


def test_description_ids_follow_the_pattern() -> None:
    for d in load_descriptions():
        assert re.fullmatch(rf"desc-{d.dimension}-{d.pole}-\d{{3}}", d.id), d.id


def test_prompt_counts() -> None:
    prompts = load_prompts()
    assert len(prompts) == 15_000
    assert all(isinstance(p, SituationalPrompt) for p in prompts)
    assert Counter(p.dimension for p in prompts) == {d: 3750 for d in DIMENSIONS}
    for dim in DIMENSIONS:
        mine = load_prompts(dimension=dim)
        # every basic value of the dimension is used, in both splits
        for split in SPLITS:
            values = {p.value for p in mine if p.split == split}
            assert values == set(BASIC_VALUES[dim]), (dim, split, values)
        assert len({p.domain for p in mine}) >= 10, dim
    assert len({p.domain for p in prompts}) >= 10
    assert {p.domain for p in prompts} <= set(DOMAINS)


def test_ids_unique_across_all_files() -> None:
    ids = [d.id for d in load_descriptions()]
    ids += [p.id for p in load_prompts()]
    ids += [q.id for q in load_questionnaire()]
    assert len(ids) == len(set(ids))
    texts = [p.text for p in load_prompts()]
    assert len(texts) == len(set(texts))


def test_splits_about_80_20_and_disjoint_by_situation() -> None:
    prompts = load_prompts()
    for dim in DIMENSIONS:
        mine = [p for p in prompts if p.dimension == dim]
        test_share = sum(p.split == "test" for p in mine) / len(mine)
        assert 0.15 <= test_share <= 0.25, (dim, test_share)
    split_of: dict[str, set[str]] = {}
    for p in prompts:
        split_of.setdefault(p.situation_id, set()).add(p.split)
        assert p.situation_id.startswith(f"sit-{p.dimension}-")
    assert all(len(s) == 1 for s in split_of.values())
    # and the split filter returns exactly the tagged records
    assert len(load_prompts(split="search")) + len(load_prompts(split="test")) == 15_000


def test_questionnaire() -> None:
    items = load_questionnaire()
    assert all(isinstance(q, QuestionnaireItem) for q in items)
    per_value = Counter(q.value for q in items)
    all_values = {v for vs in BASIC_VALUES.values() for v in vs}
    assert set(per_value) == all_values and len(all_values) == 10
    assert min(per_value.values()) >= 4 and len(items) >= 40
    for q in items:
        expected = tuple(d for d in DIMENSIONS if q.value in BASIC_VALUES[d])
        assert q.dimensions == expected
        # a portrait: third person ("This person ...", "They ..."), never first person
        assert re.search(r"\b(this person|they|them|their)\b", q.text, re.IGNORECASE), q.text
        assert not re.search(r"\b(I|me|my)\b", q.text), q.text
    assert [q for q in items if q.value == "hedonism"][0].dimensions == (
        "openness_to_change",
        "self_enhancement",
    )
    assert len(ANSWER_SCALE) == 6


def test_every_shipped_record_validates() -> None:
    for kind in KINDS:
        records, issues = validate_file(data_file(kind), kind)
        assert issues == [], issues[:3]
        assert records


# --- loaders --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "word"),
    [
        (lambda: load_descriptions(dimension="openness"), "openness_to_change"),
        (lambda: load_descriptions(pole="reversed"), "affirm"),
        (lambda: load_prompts(split="train"), "search"),
        (lambda: load_prompts(dimension="Conservation"), "conservation"),
        (lambda: load_prompts(value="kindness"), "benevolence"),
        (lambda: load_prompts(domain="sports"), "work"),
        (lambda: data_file("items"), "questionnaire"),
    ],
)
def test_unknown_choice_names_the_valid_ones(call, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        call()


def test_loader_returns_fresh_lists() -> None:
    first = load_prompts(dimension="conservation")
    first.clear()
    assert len(load_prompts(dimension="conservation")) == 3750


def test_prompt_filters_combine() -> None:
    rows = load_prompts(dimension="self_enhancement", split="test", value="hedonism")
    assert rows
    assert all(
        (p.dimension, p.split, p.value) == ("self_enhancement", "test", "hedonism") for p in rows
    )
    brute = [
        p
        for p in load_prompts()
        if (p.dimension, p.split, p.value) == ("self_enhancement", "test", "hedonism")
    ]
    assert rows == brute


def test_dataset_hash_is_sha256_of_the_files() -> None:
    digest = hashlib.sha256()
    for kind in KINDS:
        data = data_file(kind).read_bytes()
        digest.update(f"{kind}\0{len(data)}\0".encode())
        digest.update(data)
    assert dataset_hash() == digest.hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", dataset_hash())


# --- builder ----------------------------------------------------------------------------------


def test_builder_reproduces_the_shipped_file_byte_for_byte() -> None:
    built = to_jsonl(build_prompts(seed=0)).encode("utf-8")
    assert built == data_file("prompts").read_bytes()


def test_builder_is_deterministic_and_seed_dependent() -> None:
    a = build_prompts(seed=7, per_dimension=200)
    b = build_prompts(seed=7, per_dimension=200)
    c = build_prompts(seed=8, per_dimension=200)
    assert to_jsonl(a) == to_jsonl(b)
    assert to_jsonl(a) != to_jsonl(c)
    assert Counter(p.dimension for p in a) == {d: 200 for d in DIMENSIONS}


def test_parts_cover_every_value_and_many_domains() -> None:
    situations = load_situations()
    for dim in DIMENSIONS:
        mine = [s for s in situations if s.dimension == dim]
        assert {s.value for s in mine} == set(BASIC_VALUES[dim])
        assert len({s.domain for s in mine}) >= 10
        assert all(len(s.details) >= 4 for s in mine)


def _situation(**changes: object) -> dict[str, object]:
    good = {"value": "security", "domain": "work", "key": "k", "text": "Hi.", "slots": {}}
    return {**good, "details": ["a", "b"], **changes}


@pytest.mark.parametrize(
    ("dimension", "items", "message"),
    [
        ("nowhere", [], "unknown dimension"),
        ("conservation", [_situation(value="power")], "not a value of conservation"),
        ("conservation", [_situation(domain="sport")], "unknown domain"),
        ("conservation", [_situation(text="Hi {who}.")], "slots used"),
        ("conservation", [_situation(slots={"who": ["you"]})], "slots used"),
        ("conservation", [_situation(details=["a"])], "two details"),
        ("conservation", [_situation(), _situation(text="Ho.")], "duplicate key"),
        ("conservation", [_situation(slots={"who": []}, text="{who}")], "non-empty strings"),
        ("conservation", [{"value": "security"}], "missing details, domain"),
        ("conservation", {"key": "k"}, "a list of situations"),
    ],
)
def test_malformed_parts_are_rejected(dimension: str, items: object, message: str) -> None:
    with pytest.raises(PartsError, match=message):
        situations_from_json(dimension, items, "x.json")
    (ok,) = situations_from_json("conservation", [_situation(text="{w}", slots={"w": ["a"]})])
    assert ok.situation_id == "sit-conservation-k" and ok.combinations() == [{"w": "a"}]


def test_parts_files_are_json_that_the_builder_reads() -> None:
    from valuelocate.data.parts import PARTS_DIR

    files = sorted(p.relative_to(PARTS_DIR).as_posix() for p in PARTS_DIR.rglob("*.json"))
    assert files == ["questions.json", "remarks.json"] + [
        f"situations/{d}.json" for d in sorted(DIMENSIONS)
    ]
    assert len(load_situations()) == 127 and len(QUESTIONS) == 48


# --- neutrality -----------------------------------------------------------------------------


def test_neutrality_lists_catch_what_they_should() -> None:
    assert neutrality_violations("Your family has a Tradition of ...", "conservation")
    assert neutrality_violations("An exciting offer.", "openness_to_change")
    assert neutrality_violations("Is Self-Enhancement good?", "self_transcendence")
    assert neutrality_violations("A selfless act.", "self_transcendence")
    assert neutrality_violations("Be ambitious.", "self_enhancement")
    # word boundaries: "property" is not "proper", "empowering" is not "power"
    assert not neutrality_violations("The property next door.", "conservation")
    assert not neutrality_violations("A fundraiser.", "openness_to_change")


def test_shipped_prompts_are_neutral() -> None:
    dimension_names = re.compile(
        r"openness|conservation|conservative|self[- ]transcendence|self[- ]enhancement",
        re.IGNORECASE,
    )
    for p in load_prompts():
        assert not dimension_names.search(p.text), p.text
        assert neutrality_violations(p.text, p.dimension) == [], (p.id, p.text)
    # the lists are the builder's, and they are not trivially empty
    assert len(NEUTRALITY_BANNED) > 20
    assert all(len(POLE_WORDS[d]) >= 10 for d in DIMENSIONS)


def test_prompts_end_with_an_open_question() -> None:
    for p in load_prompts():
        assert p.text.endswith(QUESTIONS), p.text
        assert 20 <= len(p.text.split()) <= 140, p.text


# --- near-duplicates --------------------------------------------------------------------------


def test_shingles_and_jaccard_by_hand() -> None:
    a = shingles("The cat sat on the mat")
    b = shingles("the cat sat on a mat")
    assert a == {"the cat sat", "cat sat on", "sat on the", "on the mat"}
    assert jaccard(a, b) == pytest.approx(2 / 6)


def test_near_duplicates_matches_brute_force() -> None:
    prompts = load_prompts(dimension="openness_to_change")[:600]
    texts = [p.text for p in prompts]
    sets = [shingles(t) for t in texts]
    brute = {
        (i, j)
        for i in range(len(sets))
        for j in range(i + 1, len(sets))
        if jaccard(sets[i], sets[j]) >= 0.5
    }
    found = {(i, j) for i, j, _ in near_duplicates(texts, threshold=0.5)}
    assert found <= brute  # every reported pair is verified exactly
    assert len(found) >= 0.95 * len(brute)  # LSH recall at J >= 0.5 is about 0.99


def test_near_duplicates_finds_a_planted_copy() -> None:
    texts = [p.text for p in load_prompts(dimension="conservation")[:300]]
    texts.append(texts[10].replace("?", "!"))
    pairs = near_duplicates(texts, threshold=0.8)
    assert (10, 300) in {(i, j) for i, j, _ in pairs}


def test_stats_counts_and_near_duplicate_rate() -> None:
    report = summary()
    assert report["descriptions"]["total"] == 640
    assert report["descriptions"]["by_pole"] == {"affirm": 320, "oppose": 320}
    assert report["prompts"]["by_dimension"] == {d: 3750 for d in sorted(DIMENSIONS)}
    assert sum(report["prompts"]["by_domain"].values()) == 15_000
    assert set(report["prompts"]["by_split"]) == set(SPLITS)
    assert report["questionnaire"]["total"] == len(load_questionnaire())
    words = report["prompts"]["words"]
    assert words["min"] <= words["median"] <= words["max"]
    # the descriptions have no near-duplicates within a pole; the prompts few
    assert report["descriptions"]["near_duplicates"]["pairs"] == 0
    assert report["prompts"]["near_duplicates"]["rate"] < 0.10
    json.dumps(report)  # JSON-ready


# --- the validator on broken files -------------------------------------------------------------

GOOD = {
    "id": "desc-conservation-affirm-001",
    "dimension": "conservation",
    "pole": "affirm",
    "values": ["tradition"],
    "text": "I keep the old customs.",
}


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_validator_names_line_and_field_for_every_defect(tmp_path: Path) -> None:
    def line(**change: object) -> str:
        record = {**GOOD, **change}
        return json.dumps({k: v for k, v in record.items() if v is not None})

    lines = [
        line(),  # 1: fine
        '{"id": "x", "dimension": ',  # 2: bad JSON
        line(id="d2", text=None),  # 3: missing field
        line(id="d3", dimension="openness"),  # 4: unknown dimension
        line(id="d4", pole="reversed"),  # 5: unknown pole
        line(id="d5", text="   "),  # 6: empty text
        line(),  # 7: duplicate id
        "",  # 8: blank lines are skipped
        line(id="d6", values=["kindness"]),  # 9: unknown basic value
    ]
    records, issues = validate_file(_write(tmp_path, lines), "descriptions")
    where = {(i.line, i.field) for i in issues}
    assert where == {
        (2, None),
        (3, "text"),
        (4, "dimension"),
        (5, "pole"),
        (6, "text"),
        (7, "id"),
        (9, "values"),
    }
    messages = {i.line: i.message for i in issues}
    assert "invalid JSON" in messages[2]
    assert "missing" in messages[3]
    assert "openness" in messages[4] and "conservation" in messages[4]
    assert "reversed" in messages[5] and "affirm" in messages[5]
    assert "empty" in messages[6]
    assert "duplicate" in messages[7] and "line 1" in messages[7]
    assert [r.id for r in records] == ["desc-conservation-affirm-001"]
    assert str(issues[0]).startswith(f"{tmp_path / 'broken.jsonl'}:2: ")


def test_validator_on_prompts_detects_kind_and_wrong_value(tmp_path: Path) -> None:
    prompt = record_to_dict(load_prompts(dimension="conservation")[0])
    bad = {**prompt, "id": "p2", "value": "power", "split": "train"}
    path = _write(tmp_path, [json.dumps(prompt), json.dumps(bad)])
    records, issues = validate_file(path)
    assert len(records) == 1
    assert {(i.line, i.field) for i in issues} == {(2, "value"), (2, "split")}


def test_validator_survives_binary_and_missing_files(tmp_path: Path) -> None:
    binary = tmp_path / "blob.jsonl"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage\n" + json.dumps(GOOD).encode() + b"\n")
    records, issues = validate_file(binary)
    assert len(records) == 1
    assert [(i.line, i.field) for i in issues] == [(1, None)]
    assert "UTF-8" in issues[0].message
    records, issues = validate_file(tmp_path / "nope.jsonl")
    assert records == [] and "not found" in issues[0].message
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert "no records" in validate_file(empty)[1][0].message
