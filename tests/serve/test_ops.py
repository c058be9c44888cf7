"""The server's operational promises: a bounded queue (429), a disconnecting client frees its
slot, a failed request leaves no hook, API keys, the per-request log line, loopback binds."""

from __future__ import annotations

import http.client
import json
import logging
import time
from urllib.parse import urlparse

import openai
import pytest
import torch

import serve_fixtures as fx
from valuelocate.hooks import count_hooks
from valuelocate.serve import build_server, running_server, serve_forever
from valuelocate.serve.server import check_bind, is_loopback
from valuelocate.serve.steering import RULES

NAME, needs_stories = fx.NAME, fx.needs_stories
lm, run_dir = fx.lm, fx.run_dir  # the shared fixtures

pytestmark = needs_stories

MESSAGES = [{"role": "user", "content": "Once upon a time"}]


def _open_stream(base_url: str, max_tokens: int) -> tuple[http.client.HTTPConnection, object]:
    url = urlparse(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    body = {
        "model": NAME,
        "messages": MESSAGES,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        # A slow edit (see _Slow) keeps the stream busy for seconds, whatever the machine.
        "values": {"conservation": 1.0},
        "rule": "slow",
    }
    conn.request(
        "POST",
        f"{url.path}/chat/completions",
        json.dumps(body),
        {"Content-Type": "application/json"},
    )
    response = conn.getresponse()
    assert response.status == 200
    assert response.readline().startswith(b"data: ")  # the first chunk arrived
    return conn, response


class _Slow:
    """An edit that changes nothing and takes 20 ms per call."""

    site = "act"

    def layers(self) -> list[int]:
        return [0]

    def reset(self) -> None:
        """Nothing to restart."""

    def edit(self, layer, values):  # type: ignore[no-untyped-def]
        time.sleep(0.02)
        return torch.empty(0, dtype=torch.long), values[..., :0]


def test_queue_bound_gives_429_and_a_disconnected_stream_frees_its_slot(
    lm, run_dir, caplog, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(RULES, "slow", lambda *args: _Slow())
    caplog.set_level(logging.INFO, logger="valuelocate.serve")
    parts = build_server(lm, run_dir, name=NAME, max_batch=1, max_queue=1)
    with running_server(parts) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        conn, _response = _open_stream(server.base_url, max_tokens=480)
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(model=NAME, messages=MESSAGES, max_tokens=2)
        assert refused.value.status_code == 429
        conn.close()  # the client goes away mid-stream
        deadline = time.monotonic() + 60
        while server.engine.held and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.engine.held == 0
        reply = client.chat.completions.create(model=NAME, messages=MESSAGES, max_tokens=2)
        assert reply.choices[0].message.content
        assert fx.settled_hooks(lm.model) == 0
    cancelled = [r.getMessage() for r in caplog.records if "status=cancelled" in r.getMessage()]
    assert len(cancelled) == 1
    tokens = int(cancelled[0].split("completion_tokens=")[1].split()[0])
    assert tokens < 480, "the stream stopped when its client left, not at max_tokens"


class _Exploding:
    """An edit whose every call fails, as a buggy rule would."""

    site = "act"

    def layers(self) -> list[int]:
        return [0, 2]

    def edit(self, layer, values):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")


def test_a_failed_request_leaves_no_hook_and_the_server_keeps_serving(  # type: ignore[no-untyped-def]
    lm, run_dir, monkeypatch
) -> None:
    monkeypatch.setitem(RULES, "exploding", lambda *args: _Exploding())
    parts = build_server(lm, run_dir, name=NAME)
    baseline = count_hooks(lm.model)
    with running_server(parts) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        for stream in (False, True):
            with pytest.raises(openai.APIError):
                reply = client.chat.completions.create(
                    model=NAME,
                    messages=MESSAGES,
                    max_tokens=4,
                    stream=stream,
                    extra_body={"values": {"conservation": 1.0}, "rule": "exploding"},
                )
                if stream:
                    list(reply)  # type: ignore[arg-type]
            assert fx.settled_hooks(lm.model, baseline) == baseline
        reply = client.chat.completions.create(
            model=NAME, messages=MESSAGES, max_tokens=4, extra_body={"values": {"conservation": 1}}
        )
        assert reply.choices[0].message.content
        assert server.engine.held == 0


def test_api_key_is_required_and_never_logged(lm, run_dir, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO)
    key = "sk-serve-test-4f1c9a"
    parts = build_server(lm, run_dir, name=NAME, api_key=key)
    with running_server(parts) as server:
        for wrong in ("", "sk-wrong"):
            with pytest.raises(openai.AuthenticationError):
                openai.OpenAI(
                    base_url=server.base_url, api_key=wrong or "x", max_retries=0
                ).models.list()
        client = openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)
        assert client.models.list().data[0].id == NAME
        reply = client.chat.completions.create(
            model=NAME,
            messages=MESSAGES,
            max_tokens=4,
            extra_body={"values": {"self_enhancement": -2}},
        )
        answer = reply.choices[0].message.content
    lines = [r.getMessage() for r in caplog.records if r.name == "valuelocate.serve"]
    assert len(lines) == 1, "one line per request"
    line = lines[0]
    for part in (
        "chatcmpl-",
        f"model={NAME}",
        "self_enhancement=-2",
        "prompt_tokens=",
        "completion_tokens=4",
        "time=",
    ):
        assert part in line
    assert "Once upon" not in line and answer not in line, "no text without --log-text"
    assert all(key not in r.getMessage() for r in caplog.records)


def test_log_text_adds_the_texts(lm, run_dir, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="valuelocate.serve")
    with running_server(build_server(lm, run_dir, name=NAME, log_text=True)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        client.chat.completions.create(model=NAME, messages=MESSAGES, max_tokens=4)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "valuelocate.serve"]
    assert "Once upon a time" in line


def test_binding_beyond_loopback_needs_a_key_or_an_explicit_flag(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    assert check_bind("127.0.0.1", False, False) is None
    with pytest.raises(ValueError, match="allow-remote"):
        check_bind("0.0.0.0", False, False)
    assert "WITHOUT an API key" in (check_bind("0.0.0.0", False, True) or "")
    assert "API key required" in (check_bind("0.0.0.0", True, False) or "")
    # Refused before anything is loaded.
    with pytest.raises(ValueError, match="not a loopback address"):
        serve_forever("no-such-model", tmp_path, host="0.0.0.0")


def test_cli_with_damaged_neurons_exits_2_in_one_line_and_never_says_serving(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from tiny_models import STORIES

    run = tmp_path / "run"
    run.mkdir()
    (run / "neurons.safetensors").write_bytes(b"")
    result = subprocess.run(
        [sys.executable, "-m", "valuelocate", "serve", "--model", str(STORIES),
         "--neurons", str(run), "--port", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "neurons.safetensors" in errors[0]
    assert "Traceback" not in result.stderr and "Serving" not in result.stdout


def test_a_second_identical_request_is_admitted_from_the_cache(lm, run_dir, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="valuelocate.serve")
    parts = build_server(lm, run_dir, name=NAME)
    catalog = parts.engine.catalog
    with running_server(parts) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)

        def ask(values: dict | None, stream: bool = False) -> str:
            reply = client.chat.completions.create(
                model=NAME, messages=MESSAGES, max_tokens=6, temperature=0, stream=stream,
                extra_body={"values": values} if values else None,
            )  # fmt: skip
            if stream:
                return "".join(c.choices[0].delta.content or "" for c in reply)  # type: ignore[union-attr]
            return reply.choices[0].message.content or ""  # type: ignore[union-attr]

        first = ask({"conservation": 1.5, "self_enhancement": -2.0})
        hits = catalog.cache_hits
        second = ask({"conservation": 1.5, "self_enhancement": -2.0}, stream=True)
        assert catalog.cache_hits == hits + 2  # both parts
        assert second == first, "a cached edit draws from its seed again"
        ask({"conservation": 1.25})
        ask(None)
    lines = [r.getMessage() for r in caplog.records if r.name == "valuelocate.serve"]
    caches = [line.split("steering_cache=")[1].split()[0] for line in lines]
    assert caches == ["miss", "hit", "miss", "none"]
    times = [float(line.split("admission=")[1].split("ms")[0]) for line in lines]
    assert all(t >= 0 for t in times)


def test_the_cache_hands_out_fresh_dynamic_edits_and_stays_bounded(lm, run_dir) -> None:  # type: ignore[no-untyped-def]
    from valuelocate.serve.steering import Steering
    from valuelocate.steering.dynamic import DynamicEdit

    catalog = build_server(lm, run_dir, name=NAME).engine.catalog
    steering = Steering((("conservation", 2.0),), "dynamic", "generated", 3)
    a, b = catalog.admit(steering), catalog.admit(steering)
    assert (a.cache, b.cache) == ("miss", "hit")
    assert isinstance(a.edit, DynamicEdit) and isinstance(b.edit, DynamicEdit)
    assert a.edit is not b.edit and a.edit.plans is b.edit.plans
    a.edit.draw(40)  # one request's draws do not move another's
    assert torch.equal(b.edit.draw(40), catalog.admit(steering).edit.draw(40))  # type: ignore[union-attr]
    other_seed = Steering((("conservation", 2.0),), "dynamic", "generated", 4)
    assert catalog.admit(other_seed).cache == "miss"
    catalog.cache_size = 1  # the least recently used part leaves when another comes in
    catalog.admit(Steering((("conservation", 3.0),), "dynamic", "generated", 3))
    assert len(catalog._cache) == 1
