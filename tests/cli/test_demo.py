"""`valuelocate info` and `valuelocate demo` on the command line."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from conftest import needs_stories
from valuelocate.cli import app
from valuelocate.cli.demo import demo_command, info_command

from tiny_models import STORIES

WIDE = {"COLUMNS": "200"}


@needs_stories
def test_info_shows_the_models_shape() -> None:
    result = CliRunner().invoke(app, ["info", "--model", str(STORIES)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "llama" in result.output and "172" in result.output and "860" in result.output


@needs_stories
def test_demo_prints_one_row_per_layer() -> None:
    result = CliRunner().invoke(
        app, ["demo", "--model", str(STORIES), "--prompt", "Tom had a ball.",
              "--max-new-tokens", "4"], env=WIDE,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Answer:" in result.output and "MLP neurons per layer (scope: all)" in result.output
    rows = [line for line in result.output.splitlines() if "%" in line and "│" in line]
    assert len(rows) == 5


def test_help_lists_each_commands_flags() -> None:
    for command, flags in (
        (info_command, ("--model", "--device")),
        (demo_command, ("--model", "--prompt", "--max-new-tokens", "--scope", "--device")),
    ):
        own = typer.Typer()
        own.command()(command)
        shown = CliRunner().invoke(own, ["--help"], env=WIDE)
        assert shown.exit_code == 0, shown.output
        assert all(flag in shown.output for flag in flags), shown.output
    assert "--prompt" not in CliRunner().invoke(app, ["info", "--help"], env=WIDE).output
