"""The request a generation call sends (:mod:`valuelocate.data.messages`) and the neutral texts
an edit's cost is measured on (:mod:`valuelocate.data.neutral`)."""

from __future__ import annotations

import json
from pathlib import Path

from valuelocate.data.messages import SYSTEM, Target, build_messages
from valuelocate.data.neutral import load_neutral_texts
from valuelocate.data.neutrality import neutrality_violations
from valuelocate.data.schema import BASIC_VALUES, DIMENSIONS


def test_description_messages_name_the_pole_the_count_and_the_examples() -> None:
    dimension = DIMENSIONS[0]
    value = BASIC_VALUES[dimension][0]
    affirm = build_messages(
        Target("descriptions", dimension, value, pole="affirm"),
        per_call=3,
        examples=["I keep my promises."],
        avoid=["I never lie."],
    )
    assert [m["role"] for m in affirm] == ["system", "user"] and affirm[0]["content"] == SYSTEM
    text = affirm[1]["content"]
    assert "Write 3 different value descriptions" in text and "holds the values" in text
    assert json.dumps("I keep my promises.") in text and json.dumps("I never lie.") in text
    assert text.endswith("and nothing else.")
    oppose = build_messages(Target("descriptions", dimension, value, pole="oppose"), per_call=1)
    assert "rejects the values" in oppose[1]["content"]
    assert "Examples of the style" not in oppose[1]["content"]


def test_prompt_messages_ask_for_a_question_in_the_domain() -> None:
    dimension = DIMENSIONS[-1]
    value = BASIC_VALUES[dimension][-1]
    (_, user) = build_messages(
        Target("prompts", dimension, value, domain="family_friends"), per_call=2
    )
    assert "Write 2 different situational prompts" in user["content"]
    assert "'family and friends'" in user["content"] and "question mark" in user["content"]


def test_neutral_texts_are_distinct_and_value_free() -> None:
    texts = load_neutral_texts()
    assert len(texts) >= 2 and len(set(texts)) == len(texts)
    assert all(t.strip() == t and t for t in texts)
    assert not [t for t in texts for d in DIMENSIONS if neutrality_violations(t, d)]


def test_neutral_texts_read_any_jsonl_file(tmp_path: Path) -> None:
    path = tmp_path / "neutral.jsonl"
    path.write_text('{"text": "Water boils at 100 C."}\n\n{"text": "Add salt."}\n')
    assert load_neutral_texts(path) == ["Water boils at 100 C.", "Add salt."]
