"""The pieces of the server that need no model: the answers' bodies in OpenAI's field layout
(:mod:`valuelocate.serve.responses`), a bad body's 400 (:mod:`valuelocate.serve.schema`) and
the API key read from the environment (:mod:`valuelocate.serve.options`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from valuelocate.serve.options import ServeOptions
from valuelocate.serve.responses import model_list, sse, usage
from valuelocate.serve.schema import ApiError, parse_json


def test_usage_models_and_events_have_openais_fields() -> None:
    assert usage(5, 3) == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    listed = model_list(["base", "base+conservation"], created=7)
    assert listed["object"] == "list"
    assert [m["id"] for m in listed["data"]] == ["base", "base+conservation"]
    assert all(m["object"] == "model" and m["created"] == 7 for m in listed["data"])
    event = sse({"id": "x", "choices": []})
    assert event.startswith("data: ") and event.endswith("\n\n")
    assert json.loads(event.removeprefix("data: ")) == {"id": "x", "choices": []}


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff"])
def test_a_body_that_is_not_a_json_object_is_a_400(raw: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        parse_json(raw)
    assert caught.value.status == 400
    assert caught.value.body()["error"]["code"] == "invalid_json"
    assert parse_json(b'{"model": "m"}') == {"model": "m"}


def test_api_key_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServeOptions(neurons=Path("run")).api_key() is None
    options = ServeOptions(neurons=Path("run"), api_key_env="VL_SERVE_TEST_KEY")
    monkeypatch.setenv("VL_SERVE_TEST_KEY", "sk-1")
    assert options.api_key() == "sk-1"
    monkeypatch.setenv("VL_SERVE_TEST_KEY", "")
    with pytest.raises(ValueError, match="VL_SERVE_TEST_KEY"):
        options.api_key()
