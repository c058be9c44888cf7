"""`valuelocate run` on the command line: a bad option fails at once, before any locating
(issue 9, bug 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from valuelocate.cli.run import run_command

from tiny_models import STORIES


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "valuelocate", "run", "--model", str(STORIES), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "COLUMNS": "200"})  # fmt: skip


def test_judge_prompts_zero_fails_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = _run("--out", str(out), "--judge-prompts", "0")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "--judge-prompts" in line]
    assert len(lines) == 1, result.stderr  # the message is one line, naming the flag
    assert not out.exists(), "no run directory (and so no manifest) was created"


def test_a_bad_method_fails_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = _run("--out", str(out), "--method", "no-such-method")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("error:") and "no-such-method" in line
    assert not out.exists()


def test_help_lists_the_commands_own_flags() -> None:
    app = typer.Typer()
    app.command()(run_command)
    shown = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    for flag in ("--out", "--judge", "--resume", "--judge-prompts", "--gammas"):
        assert flag in shown.output
