"""The API key never leaves the environment: with a fake key set, the judge, the data generator
and a whole ``locate`` + ``evaluate`` run talk to the fault server (which sees the key in its
``Authorization`` header, as it should) under DEBUG logging, faults included; then every
written file, every log record and everything printed is searched for the key.

The evaluate run also shows the judge's failure counts reaching ``results.json``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from valuelocate.cli.generate import generate_command
from valuelocate.evaluation.judges import JudgeConfig, build_judge

from fault_server import Reply, serve
from tiny_models import STORIES

KEY = "sk-fake-4f1c9a7e5b3d-DO-NOT-LEAK"
ENV = "VL_SECRET_TEST_KEY"
TEXT = "Learning a new craft every year keeps my curiosity burning and my days full of surprise."
# Passing faults, each followed by a good answer (the judge's rating, or generated items).
FAULTS = [
    Reply(status=429, body="rate limited", headers={"Retry-After": "0.2"}),
    Reply(status=500, body="boom"),
    Reply(fault="reset"),
    Reply(fault="malformed"),
    Reply(fault="empty_choices"),
    Reply(fault="truncate", text="x" * 200),
]


def _files_holding(folder: Path, secret: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_judge_and_generator_never_write_or_log_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd
) -> None:
    monkeypatch.setenv(ENV, KEY)
    caplog.set_level(logging.DEBUG)  # every logger: openai, httpx, httpcore ...
    script = [r for fault in FAULTS for r in (fault, Reply(text="4"))]
    with serve(script=script, api_key=KEY) as server:
        config = JudgeConfig(base_url=server.base_url, api_key_env=ENV, samples=2, timeout=5)
        judge = build_judge("openai:m", config)
        ratings = judge.rate("conservation", ["Q"] * 3, ["A.", "B.", "C."])
        text = repr(judge) + repr(ratings) + json.dumps(judge.failure_counts())  # type: ignore[attr-defined]
    assert all(r.score == 4.0 for r in ratings)
    assert set(server.auth_headers) == {f"Bearer {KEY}"}, "the server does get the key"

    app = typer.Typer()
    app.command()(generate_command)
    out = tmp_path / "gen" / "d.jsonl"
    args = ["--kind", "descriptions", "--dimension", "openness_to_change", "--count", "1"]
    args += ["--out", str(out), "--backend", "openai", "--model", "m", "--api-key-env", ENV]
    items = Reply(text=json.dumps([{"text": TEXT}]))
    with serve(script=[*FAULTS, items], api_key=KEY) as server:
        done = CliRunner().invoke(app, [*args, "--base-url", server.base_url, "--timeout", "5"])
        # A wrong key: the server echoes it in its 401 body, which the error quotes.
        monkeypatch.setenv(ENV, KEY + "-wrong")
        args[args.index(str(out))] = str(tmp_path / "gen" / "refused.jsonl")
        refused = CliRunner().invoke(app, [*args, "--base-url", server.base_url])
    assert done.exit_code == 0, done.output
    assert "malformed 1" in done.output and "truncated 1" in done.output
    assert refused.exit_code == 2 and "HTTP 401" in refused.output and "***" in refused.output

    printed = capfd.readouterr()
    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records
    )
    assert len(caplog.records) > 20, "DEBUG logging was captured"
    for where in (text, done.output, refused.output, printed.out, printed.err, logged):
        assert KEY not in where
    assert _files_holding(tmp_path, KEY) == [] and out.read_text().count("\n") == 1


@pytest.mark.slow
@pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")
def test_an_evaluate_run_counts_judge_failures_and_never_holds_the_key(tmp_path: Path) -> None:
    run = tmp_path / "run"
    env = {**os.environ, ENV: KEY, "OPENAI_LOG": "debug", "HF_HUB_OFFLINE": "1"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "valuelocate", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    located = cli("locate", "--model", str(STORIES), "--out", str(run),
                  "--dimensions", "conservation", "--prompts-per-pole", "3",
                  "--max-new-tokens", "4", "--batch-size", "2", "--seed", "0",
                  "--param", "min_required=10", "--param", "threshold=0.6")  # fmt: skip
    script = [r for fault in FAULTS for r in (fault, Reply(text="4"))]
    with serve(script=script, api_key=KEY) as server:
        evaluated = cli("evaluate", str(run), "--gammas", "0,1", "--judge", "openai:m",
                        "--judge-base-url", server.base_url, "--judge-api-key-env", ENV,
                        "--judge-samples", "1", "--judge-prompts", "2",
                        "--max-new-tokens", "4", "--seed", "0",
                        "--bootstrap", "20", "--permutations", "20")  # fmt: skip
    assert set(server.auth_headers) == {f"Bearer {KEY}"}
    results = json.loads((run / "evaluation" / "results.json").read_text())
    totals = results["judges"]["openai"]
    failures = totals["failures"]
    assert {k: failures[k] for k in ("rate_limited", "server_error", "connection")} == {
        "rate_limited": 1,
        "server_error": 1,
        "connection": 1,
    }
    assert (failures["malformed"], failures["empty"], failures["truncated"]) == (1, 1, 1)
    assert failures["lost_calls"] == 0 and failures["failed_calls"] == 0
    assert failures["requests"] == failures["calls"] + 6 and totals["malformed"] == 0
    assert "DEBUG" in evaluated.stderr or "Request options" in evaluated.stderr
    for output in (located, evaluated):
        assert KEY not in output.stdout and KEY not in output.stderr
    assert _files_holding(run, KEY) == []
