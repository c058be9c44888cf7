"""`valuelocate run` on the command line: a bad option fails at once, before any locating
(issue 9, bug 2); after the job, the verdict in 80 columns and no evaluation table."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

import valuelocate.cli.run as cli_run
from valuelocate.cli.run import print_verdict, run_command
from valuelocate.evaluation.probe import Probe, ProbeRow
from valuelocate.machine import MachineIndex
from valuelocate.pipeline import RunOptions
from verdict_fixture import make_verdict, write_verdict

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
    for flag in ("--out", "--judge", "--resume", "--judge-prompts", "--gammas", "--evaluate"):
        assert flag in shown.output
    # what each stage costs, and how to turn the optional ones on
    for text in ("What each stage costs", "locate: about 2 min", "--evaluate probe",
                 "--no-verdict", "--choice-reading"):  # fmt: skip
        assert text in shown.output


def test_the_verdict_summary_fits_80_columns_without_nan() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    print_verdict(make_verdict(), console, report=Path("runs/main-job/report.html"))
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert "nan" not in out.getvalue().lower()
    assert lines[0].startswith("Verdict · model default · budget ppl=1.10")
    assert any(line.startswith("Conservation  ") and line.endswith("? ? ? ?") for line in lines)
    assert lines[-1] == "Full report: runs/main-job/report.html"


def test_run_prints_the_verdict_and_only_a_pointer_to_the_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The job itself is replaced: what `_run` prints once it returns."""
    run_dir = tmp_path / "run"
    write_verdict(run_dir)
    report = run_dir / "report.html"
    results = run_dir / "evaluation" / "results.json"
    result = SimpleNamespace(
        run_dir=run_dir,
        located=SimpleNamespace(summary=None),
        evaluation=SimpleNamespace(path=results, scores=[], data={"measures": []}),
        verdict=object(),
        report=report,
        machine=MachineIndex(700.0, 8, 64, (0.7, 0.73, 0.75), "cpu", 2),
        probe=None,
    )
    monkeypatch.setattr(cli_run, "run", lambda *args, **kwargs: result)
    monkeypatch.setattr(cli_run, "print_summary", lambda summary, console: None)
    monkeypatch.setenv("COLUMNS", "80")
    # The run directory holds the verdict already: --resume (a new run would be refused).
    cli_run._run(RunOptions(), out=run_dir, judge=["embedding"], resume=True)
    printed = capsys.readouterr().out
    assert f"Evaluation results: {results}" in printed
    assert "Evaluation (mean" not in printed  # the evaluate table is not printed
    assert "Conservation: on forced choice, the located 1% set (461 neurons)" in " ".join(
        printed.split()
    )
    assert f"Full report: {report}" in printed
    assert printed.strip().splitlines()[-1] == str(report)  # the last line stays the path
    assert "nan" not in printed.lower()
    assert "; machine index 700 tokens/s (bare forward 8 x 64 tokens" in printed
    # the default evaluation: the probe's line, and no pointer to results that do not exist
    result.evaluation = None
    result.probe = Probe((ProbeRow("conservation", -0.1, 0.6, 10),))
    cli_run._run(RunOptions(), out=run_dir, judge=["embedding"], resume=True)
    printed = capsys.readouterr().out
    assert "Evaluation results" not in printed
    assert "registers a persona prompt on 0/1 dimensions" in " ".join(printed.split())
