"""Tests of ``valuelocate data generate``: real backends, a real loopback HTTP server, real files.

No mocks stand in for a model: the hf backend runs the 260k-parameter Llama from
``shared/models``, and the openai backend talks over HTTP to ``tests/fault_server.py``, which
either runs that model or serves scripted replies. Each fault kind is tested in
``test_llm_faults.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from valuelocate.cli.generate import (
    EXIT_ERROR,
    EXIT_INCOMPLETE,
    generate_command,
)
from valuelocate.data.answers import parse_answer, text_problem
from valuelocate.data.dedup import Deduplicator
from valuelocate.data.generate import generate
from valuelocate.data.generation_config import DataGenerationConfig, GenerationError
from valuelocate.data.resume import read_existing
from valuelocate.data.schema import validate_file
from valuelocate.data.stats import jaccard, shingles
from valuelocate.llm import HFBackend, LLMError, OpenAIBackend

from fault_server import Reply, serve  # tests/ is on sys.path (conftest.py)

TINY_MODEL = Path(__file__).parents[2].parent / "shared/models/stories260k-llama"
SECRET = "sk-test-0123456789abcdef-SECRET"

# Distinct first-person statements: no two share a word 3-gram.
TEXTS = [
    "I feel most alive when I choose my own path and try things nobody around me has tried.",
    "Learning a new craft every year keeps my curiosity burning and my days full of surprise.",
    "Nobody should decide for me which city I live in or which job I take next.",
    "A weekend without some small adventure feels wasted to me, so I plan little escapes.",
    "My best ideas come from questioning the rules my teachers handed down without reasons.",
    "Sampling unfamiliar food at street markets abroad is among my greatest joys.",
    "I quit a safe position once because it left no room for invention or personal judgment.",
    "Working out solutions by myself matters more to me than being told the right answer.",
    "Spontaneous road trips with friends are what I remember years later, not routines.",
    "When a project becomes predictable, I start looking for a fresh challenge elsewhere.",
]


def _items(*texts: str) -> str:
    return json.dumps([{"text": t} for t in texts])


def _config(out: Path, count: int, **kwargs: object) -> DataGenerationConfig:
    return DataGenerationConfig("descriptions", "openness_to_change", count, out, **kwargs)


_CLI_SCRIPT = (
    "import typer\n"
    "from valuelocate.cli.generate import generate_command\n"
    "app = typer.Typer()\n"
    "app.command()(generate_command)\n"
    "app()\n"
)


def _cli(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    app = typer.Typer()
    app.command()(generate_command)
    result = CliRunner().invoke(app, args, env=env)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def tiny() -> HFBackend:
    if not (TINY_MODEL / "config.json").is_file():
        pytest.skip(f"tiny model not found at {TINY_MODEL}")
    return HFBackend.load(str(TINY_MODEL))


# ----------------------------------------------------------------- parsing and de-duplication


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('[{"text": "a"}, {"text": "b"}]', [{"text": "a"}, {"text": "b"}]),
        ('Sure! Here they are:\n```json\n[{"text": "a"}]\n```\nEnjoy.', [{"text": "a"}]),
        ('Note [1]: {"items": [{"text": "a"}]} done', [{"text": "a"}]),
        ('{"text": "a"}', [{"text": "a"}]),
        ('["a", "b"]', ["a", "b"]),
        ("Once upon a time, Lily saw a dog.", None),
        ("[unclosed {", None),
    ],
)
def test_parse_answer_is_lenient_but_never_invents(answer: str, expected: object) -> None:
    assert parse_answer(answer) == expected


def test_deduplicator_agrees_with_brute_force_jaccard() -> None:
    base = "I love to travel to places where nobody speaks my language at all"
    candidates = [
        base,
        "i LOVE to travel, to places where nobody speaks my language at all!",  # exact after norm
        "I love to travel to places where nobody speaks my language at all times",  # near
        "I love to travel to towns where nobody speaks my own tongue at all",  # partial overlap
        TEXTS[0],
    ]
    dedup = Deduplicator(threshold=0.6)  # 0.5 by default
    dedup.add(base)
    for text in candidates:
        brute = jaccard(shingles(text), shingles(base)) >= 0.6
        assert dedup.is_duplicate(text) == brute, text
    # Hand-worked: 11 of the base's 11 grams are shared with a candidate of 12 grams: 11/12.
    assert jaccard(shingles(candidates[2]), shingles(base)) == pytest.approx(11 / 12)
    assert [dedup.is_duplicate(t) for t in candidates] == [True, True, True, False, False]
    assert all(jaccard(shingles(a), shingles(b)) < 0.6 for a, b in combinations(TEXTS, 2))


def test_shingles_are_the_dataset_stats_definition() -> None:
    import valuelocate.data.stats as stats

    # One definition, so that what the generator lets through passes `data stats` too.
    assert shingles is stats.shingles and jaccard is stats.jaccard
    expected = {"one two three", "two three four", "three four don't"}
    assert shingles("One-two three, FOUR! Don't") == expected


def test_text_problems() -> None:
    ok = "Your cousin asks you to lend her your car for a month. What would you do, and why?"
    assert text_problem("prompts", ok, "conservation") is None
    assert text_problem("prompts", TEXTS[0], "conservation") == "no question"
    assert text_problem("descriptions", "Too short to use.", "conservation").startswith("fewer")
    assert text_problem("descriptions", "word " * 300, "conservation").startswith("longer")
    pytest.importorskip("valuelocate.data.builder")
    leading = "Your family keeps an old tradition at every holiday. What would you do about it?"
    assert text_problem("prompts", leading, "conservation") == "not neutral"


# ----------------------------------------------------------------- hf backend on a real model


def test_hf_backend_is_seeded_and_junk_is_counted_then_stops(tiny: HFBackend, tmp_path) -> None:
    messages = [{"role": "user", "content": "Write a JSON list."}]
    first = tiny.complete(messages, temperature=1.0, max_tokens=16, n=2, seed=7)
    assert first == tiny.complete(messages, temperature=1.0, max_tokens=16, n=2, seed=7)
    assert first != tiny.complete(messages, temperature=1.0, max_tokens=16, n=2, seed=8)

    out = tmp_path / "junk.jsonl"
    report = generate(_config(out, 2, max_attempts=3, max_tokens=24), tiny, reference=[])
    assert not report.complete
    assert (report.attempts, report.written, report.rejected_malformed) == (3, 0, 3)
    assert out.read_text() == ""


def test_cli_hf_junk_exits_nonzero_with_clear_message(tiny: HFBackend, tmp_path) -> None:
    out = tmp_path / "junk.jsonl"
    code, output = _cli(
        ["--kind", "prompts", "--dimension", "conservation", "--count", "2", "--out", str(out)]
        + ["--backend", "hf", "--model", str(TINY_MODEL), "--max-attempts", "2"]
        + ["--max-tokens", "16", "--seed", "3"]
    )
    assert code == EXIT_INCOMPLETE, output
    assert "--max-attempts" in output and "0 of 2" in output
    assert "2 malformed" in output


# ----------------------------------------------------------------- openai backend over HTTP


def test_openai_backend_serves_the_local_model_over_http(tiny: HFBackend, tmp_path) -> None:
    messages = [{"role": "user", "content": "Write one value description as JSON."}]
    local = tiny.complete(messages, temperature=0.8, max_tokens=24, n=1, seed=5)
    with serve(backend=tiny) as server:
        client = OpenAIBackend(model="stories260k", base_url=server.base_url, retries=0)
        # The HTTP path is transparent: the same seed gives the same text as the local call.
        assert client.complete(messages, temperature=0.8, max_tokens=24, seed=5) == local
        out = tmp_path / "http.jsonl"
        report = generate(_config(out, 1, max_attempts=2, max_tokens=32), client, reference=[])
    assert (report.attempts, report.written, report.rejected_malformed) == (2, 0, 2)
    assert len(server.requests) == 3
    assert server.requests[1]["messages"][0]["role"] == "system"
    assert "JSON list" in server.requests[1]["messages"][1]["content"]


def test_scripted_replies_write_valid_records_and_count_rejections(tmp_path) -> None:
    shipped = "I would rather keep to the way things have always been done than chase novelty."
    script = [
        Reply(text="I cannot help with that."),  # no JSON: 1 malformed answer
        Reply(
            text="```json\n"
            + _items(
                TEXTS[0],
                "Too short.",  # malformed
                TEXTS[0].upper(),  # exact duplicate after normalisation
                TEXTS[0].replace("alive", "awake"),  # near duplicate
                "Excitement, novelty and challenge in life, independent thought and action",  # copy
                shipped,  # duplicate of the reference data
                TEXTS[1],
            )
            + "\n```"
        ),
        Reply(text=json.dumps([{"text": TEXTS[2]}, 42, {"other": "x"}, TEXTS[3]])),  # 2 bad
    ]
    out = tmp_path / "d.jsonl"
    with serve(script=script) as server:
        client = OpenAIBackend(model="m", base_url=server.base_url, retries=0)
        report = generate(_config(out, 4, per_call=3), client, reference=[shipped])
    assert report.complete
    assert (report.written, report.rejected_malformed, report.rejected_duplicate) == (4, 5, 3)
    assert report.reasons["copies the request"] == 1
    assert report.attempts == 3
    records, issues = validate_file(out, "descriptions")
    assert issues == []
    assert [r.text for r in records] == [TEXTS[0], TEXTS[1], TEXTS[2], TEXTS[3]]
    assert [r.id for r in records] == [f"gen-openness_to_change-{i:05d}" for i in range(1, 5)]
    assert {r.pole for r in records} == {"affirm", "oppose"}
    assert all(r.values[0] in ("self_direction", "stimulation", "hedonism") for r in records)


def test_prompts_get_split_value_and_domain_and_need_a_question(tmp_path) -> None:
    question = "Your manager asks you to cover a colleague's shift on a religious holiday. "
    texts = [question + "What do you think, and what would you do?", TEXTS[4]]
    out = tmp_path / "p.jsonl"
    with serve(script=[Reply(text=_items(*texts))]) as server:
        client = OpenAIBackend(model="m", base_url=server.base_url, retries=0)
        config = DataGenerationConfig("prompts", "conservation", 1, out, split="test")
        report = generate(config, client, reference=[])
    assert (report.written, report.rejected_malformed) == (1, 0)  # the 2nd item is never read
    (record,), issues = validate_file(out, "prompts")
    assert issues == []
    assert (record.split, record.situation_id) == ("test", record.id)
    assert record.value in ("security", "conformity", "tradition")
    with serve(script=[Reply(text=_items(TEXTS[4]))]) as server:
        client = OpenAIBackend(model="m", base_url=server.base_url, retries=0)
        config = DataGenerationConfig("prompts", "conservation", 2, out, max_attempts=1)
        report = generate(config, client, reference=[])
    assert (report.written, report.rejected_malformed) == (0, 1)  # no question mark


def test_retry_after_500_and_429_then_success(tmp_path) -> None:
    script = [
        Reply(status=500, body='{"error": "busy"}'),
        Reply(status=429, body='{"error": "slow down"}'),
        Reply(text=_items(TEXTS[5])),
    ]
    with serve(script=script) as server:
        client = OpenAIBackend(model="m", base_url=server.base_url, retries=2)
        report = generate(_config(tmp_path / "r.jsonl", 1), client, reference=[])
    assert report.written == 1 and report.attempts == 1
    assert len(server.requests) == 3
    assert (report.failures.server_error, report.failures.rate_limited) == (1, 1)
    assert "3 request(s) for 1 call(s); failed attempts: rate_limited 1, server_error 1" in (
        report.summary()
    )


def test_retries_run_out_with_a_clear_error(tmp_path) -> None:
    with serve(script=[Reply(status=503, body="down")]) as server:
        client = OpenAIBackend(model="m", base_url=server.base_url, retries=1)
        with pytest.raises(GenerationError, match=r"HTTP 503 \(tried up to 2 times\)"):
            generate(_config(tmp_path / "r.jsonl", 1), client, reference=[])
    assert len(server.requests) == 2


def test_404_names_the_url(tmp_path) -> None:
    with serve(script=[Reply(text="[]")]) as server:
        wrong = server.base_url.removesuffix("/v1") + "/api"
        client = OpenAIBackend(model="m", base_url=wrong, retries=0)
        with pytest.raises(GenerationError, match=r"/api/chat/completions answered HTTP 404"):
            generate(_config(tmp_path / "r.jsonl", 1), client, reference=[])


def test_api_key_is_sent_but_never_shown(tmp_path) -> None:
    out = tmp_path / "k.jsonl"
    args = ["--kind", "descriptions", "--dimension", "openness_to_change", "--count", "1"]
    args += ["--out", str(out), "--backend", "openai", "--model", "m", "--retries", "0"]
    args += ["--api-key-env", "VL_TEST_KEY"]
    with serve(script=[Reply(text=_items(TEXTS[6]))], api_key=SECRET) as server:
        code, output = _cli([*args, "--base-url", server.base_url], env={"VL_TEST_KEY": SECRET})
        assert code == 0, output
        assert server.auth_headers == [f"Bearer {SECRET}"]
        # A wrong key: the server echoes it back in its 401 body; the client must redact it.
        wrong = SECRET + "-wrong"
        args[args.index(str(out))] = str(tmp_path / "k2.jsonl")
        code, error = _cli([*args, "--base-url", server.base_url], env={"VL_TEST_KEY": wrong})
    assert code == EXIT_ERROR
    assert "HTTP 401" in error and server.base_url in error and "$VL_TEST_KEY" in error
    assert "***" in error
    for text in (output, error, out.read_text()):
        assert SECRET not in text


def test_an_echoed_key_is_masked_before_the_error_body_is_cut(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VL_TEST_KEY", SECRET)
    body = "x" * 290 + SECRET  # the 300-character cut would fall inside the key
    with serve(script=[Reply(status=400, body=body)], api_key=SECRET) as server:
        client = OpenAIBackend(
            model="m", base_url=server.base_url, api_key_env="VL_TEST_KEY", retries=0
        )
        assert SECRET not in repr(client)
        with pytest.raises(GenerationError, match="HTTP 400") as caught:
            generate(_config(tmp_path / "r.jsonl", 1), client, reference=[])
    assert SECRET[:8] not in str(caught.value) and "***" in str(caught.value)


def test_unreachable_server_and_bad_url_fail_clearly(tmp_path) -> None:
    with serve(script=[Reply(text="[]")]) as server:
        base_url = server.base_url  # the port is free again once the server is shut down
    client = OpenAIBackend(model="m", base_url=base_url, retries=1, timeout=2)
    with pytest.raises(GenerationError, match=rf"{base_url} could not be reached .* 2 time"):
        generate(_config(tmp_path / "r.jsonl", 1), client, reference=[])
    with pytest.raises(LLMError, match="must start with http"):
        OpenAIBackend(model="m", base_url="localhost:8000/v1")


def test_missing_key_for_openai_names_the_variable(monkeypatch) -> None:
    monkeypatch.delenv("VL_UNSET_KEY", raising=False)
    with pytest.raises(LLMError, match="VL_UNSET_KEY"):
        OpenAIBackend.from_env("gpt-4o", api_key_env="VL_UNSET_KEY")


# ----------------------------------------------------------------- the output file and resume


def test_resume_after_a_kill_drops_the_partial_line_and_continues_ids(tmp_path) -> None:
    out = tmp_path / "resume.jsonl"
    args = ["--kind", "descriptions", "--dimension", "openness_to_change", "--out", str(out)]
    args += ["--backend", "openai", "--model", "m", "--per-call", "1", "--retries", "0"]
    with serve(script=[Reply(text=_items(t)) for t in TEXTS]) as server:
        args += ["--base-url", server.base_url]
        code, output = _cli([*args, "--count", "3"])
        assert code == 0, output
        raw = out.read_bytes()
        last = raw.rstrip(b"\n").rsplit(b"\n", 1)[1]
        out.write_bytes(raw[: len(raw) - len(last) // 2 - 1])  # a kill half-way through line 3
        code, output = _cli([*args, "--count", "5"])
    assert code == 0, output
    assert "partial line" in output
    records, issues = validate_file(out, "descriptions")
    assert issues == []
    assert [r.id for r in records] == [f"gen-openness_to_change-{i:05d}" for i in range(1, 6)]
    assert [r.text for r in records] == [TEXTS[0], TEXTS[1], TEXTS[3], TEXTS[4], TEXTS[5]]
    assert out.read_bytes().endswith(b"\n")
    code, output = _cli([*args, "--count", "5"])  # already done: no call, no change
    assert code == 0 and len(server.requests) == 6


def test_read_existing_keeps_a_complete_unterminated_line_and_rejects_bad_lines(tmp_path) -> None:
    out = tmp_path / "e.jsonl"
    record = {
        "id": "x-1",
        "dimension": "conservation",
        "pole": "affirm",
        "values": ["tradition"],
        "text": TEXTS[7],
    }
    out.write_text(json.dumps(record))  # valid, only the newline missing
    existing = read_existing(out, "descriptions")
    assert [r.id for r in existing.records] == ["x-1"] and not existing.dropped_partial
    assert out.read_text().endswith("\n")
    out.write_text("not json\n" + json.dumps(record) + "\n")
    with pytest.raises(GenerationError, match=r"e.jsonl:1: invalid JSON"):
        read_existing(out, "descriptions")
    out.write_text(json.dumps(record) + "\n")
    with pytest.raises(GenerationError, match="a descriptions record, not prompts"):
        read_existing(out, "prompts")


def test_a_killed_process_leaves_a_valid_file_that_resumes(tmp_path) -> None:
    out = tmp_path / "killed.jsonl"
    script = [Reply(text=_items(t), delay=0.3) for t in TEXTS]
    with serve(script=script) as server:
        args = ["--kind", "descriptions", "--dimension", "openness_to_change", "--count", "8"]
        args += ["--out", str(out), "--backend", "openai", "--model", "m", "--per-call", "1"]
        args += ["--base-url", server.base_url, "--retries", "0"]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        child = subprocess.Popen(
            [sys.executable, "-c", _CLI_SCRIPT, *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (
                not out.exists() or out.read_bytes().count(b"\n") < 2
            ):
                time.sleep(0.05)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        written, issues = validate_file(out, "descriptions")
        assert issues == [] and 2 <= len(written) < 8
        code, output = _cli([*args, "--count", str(len(written) + 2)])
    assert code == 0, output
    records, issues = validate_file(out, "descriptions")
    assert issues == [] and len(records) == len(written) + 2
    assert len({r.text for r in records}) == len(records)
