"""`valuelocate report` on the command line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from report_fixture import make_run
from valuelocate.cli.report import report_command


def test_command_prints_the_path(tmp_path: Path) -> None:
    import typer

    app = typer.Typer()
    app.command()(report_command)
    run_dir = make_run(tmp_path, evaluation=False)
    result = CliRunner().invoke(app, [str(run_dir)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(run_dir / "report.html")
