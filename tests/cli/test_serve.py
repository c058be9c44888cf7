"""`valuelocate serve`'s command line: the server's options as flags, and a non-loopback bind
without a key refused before anything is printed or loaded (the server is tested in
tests/serve/)."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from valuelocate.cli.serve import serve_command

WIDE = {"COLUMNS": "200"}


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(serve_command)
    return app


def test_help_lists_the_servers_options() -> None:
    shown = CliRunner().invoke(_app(), ["--help"], env=WIDE)
    assert shown.exit_code == 0, shown.output
    for flag in ("--neurons", "--host", "--port", "--api-key-env", "--allow-remote"):
        assert flag in shown.output


def test_remote_bind_without_a_key_is_refused_before_loading(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(),
        ["--model", "no-such-model", "--neurons", str(tmp_path), "--host", "0.0.0.0"],
        env=WIDE,
    )
    assert isinstance(result.exception, ValueError), result.output
    assert "allow-remote" in str(result.exception)
    assert "Loading" not in result.output
