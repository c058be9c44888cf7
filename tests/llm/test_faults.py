"""Faults of a remote model, against the real clients: the OpenAI-compatible backend, the
openai judge and the dataset generator, each talking over HTTP to ``tests/fault_server.py``.

For every fault kind: a passing fault is retried and the call succeeds, with the failed attempt
counted under its kind; a fault that outlasts the retries is counted (the judge goes on, the
generator stops with one line and a valid file); nothing hangs past the timeouts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from valuelocate.cli.generate import EXIT_ERROR, generate_command
from valuelocate.data.generate import DataGenerationConfig, GenerationError, generate
from valuelocate.evaluation.judges import ChatJudge
from valuelocate.llm.base import FAILURE_KINDS, FailureCounts, LLMError
from valuelocate.llm.openai_compat import OpenAIBackend

from fault_server import Reply, serve

TIMEOUT = 0.6  # the client's total timeout per attempt, in seconds
LONG = "x" * 300  # a long completion: its body is cut in half, or trickled over ~5 s
TEXT = "Learning a new craft every year keeps my curiosity burning and my days full of surprise."
OTHER = "Nobody should decide for me which city I live in or which job I take next."

# fault name -> (the misbehaving reply, the kind the client counts it as)
FAULTS: dict[str, tuple[Reply, str]] = {
    "sleep_past_timeout": (Reply(text="4", delay=3.0), "timeout"),
    "429_retry_after": (
        Reply(status=429, body="slow down", headers={"Retry-After": "1"}),
        "rate_limited",
    ),  # noqa: E501
    "500": (Reply(status=500, body="boom"), "server_error"),
    "503": (Reply(status=503, body="down"), "server_error"),
    "connection_reset": (Reply(fault="reset"), "connection"),
    "malformed_json": (Reply(fault="malformed"), "malformed"),
    "empty_choices": (Reply(fault="empty_choices"), "empty"),
    "truncated_body": (Reply(fault="truncate", text=LONG), "truncated"),
    "trickled_body": (Reply(fault="trickle", text=LONG), "timeout"),
}
MESSAGES = [{"role": "user", "content": "Rate this."}]


def _backend(server, retries: int = 1) -> OpenAIBackend:
    return OpenAIBackend(model="m", base_url=server.base_url, retries=retries, timeout=TIMEOUT)


def _only(counts: FailureCounts, kind: str, n: int) -> None:
    """``counts`` holds ``n`` failed attempts of ``kind`` and none of any other kind."""
    assert {k: getattr(counts, k) for k in FAILURE_KINDS if getattr(counts, k)} == {kind: n}


def _finishes(work: Callable[[], object], within: float = 60.0) -> object:
    """Run ``work`` in a thread; fail (instead of hanging the suite) if it is still running
    after ``within`` seconds, far beyond what its timeouts and retries allow."""
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["value"] = work()
        except BaseException as exc:  # handed to the test below
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), "the client hung past its timeouts"
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out.get("value")


def _items(*texts: str) -> str:
    return json.dumps([{"text": t} for t in texts])


def _config(out: Path, count: int, **kwargs: object) -> DataGenerationConfig:
    return DataGenerationConfig("descriptions", "openness_to_change", count, out, **kwargs)


# ----------------------------------------------------------------- passing faults: retried


@pytest.mark.parametrize("fault", FAULTS)
def test_backend_retries_a_passing_fault_and_counts_it(fault: str) -> None:
    reply, kind = FAULTS[fault]
    with serve(script=[reply, Reply(text="5")]) as server:
        backend = _backend(server)
        texts = _finishes(lambda: backend.complete(MESSAGES, temperature=0, max_tokens=4))
    assert texts == ["5"]
    _only(backend.failures, kind, 1)
    assert (backend.failures.calls, backend.failures.requests) == (1, 2)
    assert backend.failures.failed_calls == 0 and len(server.requests) == 2


@pytest.mark.parametrize("fault", FAULTS)
def test_judge_survives_a_passing_fault(fault: str) -> None:
    reply, kind = FAULTS[fault]
    with serve(script=[reply, Reply(text="4"), Reply(text="Rating: 2")]) as server:
        judge = ChatJudge(name="openai", backend=_backend(server), samples=2)
        (rating,) = _finishes(lambda: judge.rate("conservation", ["Q"], ["An answer."]))
    assert (rating.score, rating.valid, rating.malformed) == (3.0, 2, 0)
    counts = judge.failure_counts()
    assert counts[kind] == 1 and counts["lost_calls"] == 0 and counts["failed_calls"] == 0
    assert sum(counts[k] for k in FAILURE_KINDS) == 1


@pytest.mark.parametrize("fault", FAULTS)
def test_generator_survives_a_passing_fault(fault: str, tmp_path: Path) -> None:
    reply, kind = FAULTS[fault]
    out = tmp_path / "d.jsonl"
    with serve(script=[reply, Reply(text=_items(TEXT))]) as server:
        config = _config(out, 1)
        report = _finishes(lambda: generate(config, _backend(server), reference=[]))
    assert report.complete and report.written == 1 and report.attempts == 1
    _only(report.failures, kind, 1)
    assert [json.loads(line)["text"] for line in out.read_text().splitlines()] == [TEXT]


# ----------------------------------------------------------------- persistent faults


@pytest.mark.parametrize("fault", FAULTS)
def test_judge_counts_a_call_lost_to_a_fault_and_goes_on(fault: str) -> None:
    reply, kind = FAULTS[fault]
    # retries=1: the first call fails twice and is lost; the two top-up calls succeed.
    with serve(script=[reply, reply, Reply(text="4")]) as server:
        judge = ChatJudge(name="openai", backend=_backend(server), samples=2)
        (rating,) = _finishes(lambda: judge.rate("conservation", ["Q"], ["An answer."]))
    assert (rating.score, rating.valid, rating.malformed) == (4.0, 2, 0)
    counts = judge.failure_counts()
    assert counts[kind] == 2 and counts["lost_calls"] == 1 and counts["failed_calls"] == 1
    assert len(server.requests) == 4


def test_judge_stops_with_one_line_when_the_endpoint_stays_down() -> None:
    with serve(script=[Reply(status=503, body="down")]) as server:
        judge = ChatJudge(name="openai", backend=_backend(server, retries=0), samples=2)
        with pytest.raises(LLMError, match="failed 3 calls in a row; last: .*HTTP 503") as caught:
            _finishes(lambda: judge.rate("conservation", ["Q1", "Q2"], ["A.", "B."]))
    assert "\n" not in str(caught.value) and caught.value.kind == "server_error"
    assert len(server.requests) == 3 and judge.failure_counts()["server_error"] == 3


@pytest.mark.parametrize(
    ("reply", "kind", "message"),
    [
        (
            Reply(text="4", model="another-model"),
            "wrong_model",
            "answered as model 'another-model'",
        ),
        (Reply(status=401, body="who are you"), "refused", "HTTP 401"),
        (Reply(status=400, body="bad request"), "refused", "HTTP 400"),
    ],
)
def test_faults_no_retry_can_fix_stop_at_once(reply: Reply, kind: str, message: str) -> None:
    with serve(script=[reply]) as server:
        judge = ChatJudge(name="openai", backend=_backend(server, retries=3), samples=2)
        with pytest.raises(LLMError, match=message) as caught:
            judge.rate("conservation", ["Q"], ["An answer."])
    assert caught.value.kind == kind and len(server.requests) == 1
    assert judge.failure_counts()[kind] == 1


def test_a_dated_snapshot_of_the_model_is_the_same_model() -> None:
    with serve(script=[Reply(text="4", model="m-2024-07-18")]) as server:
        assert _backend(server).complete(MESSAGES, temperature=0, max_tokens=4) == ["4"]
    with serve(script=[Reply(text="4", model="other")]) as server:
        lenient = OpenAIBackend(model="m", base_url=server.base_url, strict_model=False)
        assert lenient.complete(MESSAGES, temperature=0, max_tokens=4) == ["4"]


def test_retry_after_is_honoured() -> None:
    # The package's own first backoff is at most 0.5 s; Retry-After asks for 1.5 s.
    script = [Reply(status=429, body="slow down", headers={"Retry-After": "1.5"}), Reply(text="5")]
    with serve(script=script) as server:
        assert _backend(server).complete(MESSAGES, temperature=0, max_tokens=4) == ["5"]
    assert server.times[1] - server.times[0] >= 1.4


@pytest.mark.parametrize("fault", ["503", "sleep_past_timeout", "connection_reset"])
def test_generator_stops_with_one_line_and_keeps_what_it_wrote(fault: str, tmp_path) -> None:
    reply, kind = FAULTS[fault]
    out = tmp_path / "d.jsonl"
    with serve(script=[Reply(text=_items(TEXT)), reply]) as server:
        first = generate(_config(out, 1), _backend(server), reference=[])
        before = out.read_bytes()
        backend = _backend(server)
        with pytest.raises(GenerationError, match="rerun the same command to resume") as caught:
            _finishes(lambda: generate(_config(out, 2), backend, reference=[]))
    assert first.written == 1 and out.read_bytes() == before
    assert "\n" not in str(caught.value)
    _only(backend.failures, kind, 2)
    assert backend.failures.failed_calls == 1


def test_generator_counts_answers_that_stay_malformed_and_goes_on(tmp_path) -> None:
    out = tmp_path / "d.jsonl"
    bad = Reply(fault="malformed")
    with serve(script=[bad, bad, Reply(text=_items(TEXT))]) as server:
        report = generate(_config(out, 1), _backend(server), reference=[])
    assert report.complete and report.attempts == 2 and report.rejected_malformed == 1
    assert report.failures.malformed == 2 and report.failures.failed_calls == 1


def test_cli_prints_one_error_line_and_the_counts(tmp_path) -> None:
    app = typer.Typer()
    app.command()(generate_command)
    out = tmp_path / "d.jsonl"
    args = ["--kind", "descriptions", "--dimension", "openness_to_change", "--count", "1"]
    args += ["--out", str(out), "--backend", "openai", "--model", "m", "--retries", "1"]
    with serve(script=[Reply(status=503, body="down")]) as server:
        result = CliRunner().invoke(app, [*args, "--base-url", server.base_url])
    assert result.exit_code == EXIT_ERROR
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "HTTP 503" in errors[0]
    assert "endpoint: 2 request(s) for 1 call(s); failed attempts: server_error 2" in result.output
    assert "Traceback" not in result.output and out.read_text() == ""
