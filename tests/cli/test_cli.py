"""`valuelocate.cli`: the assembled command line; a user's error is one line, no traceback."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from valuelocate.cli import USER_ERRORS, app


def test_help_lists_every_command() -> None:
    shown = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    for command in (
        "run",
        "info",
        "demo",
        "locate",
        "steer",
        "evaluate",
        "compare",
        "report",
        "data",
    ):
        assert command in shown.output


def test_a_users_error_is_one_line_with_exit_code_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Options are checked before the (absent) run directory is read.
    result = subprocess.run(
        [sys.executable, "-m", "valuelocate", "steer", "x", "--neurons", str(tmp_path / "nope"),
         "--dimension", "power"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("error: Unknown --dimension 'power'")
    assert ValueError in USER_ERRORS and FileNotFoundError in USER_ERRORS
