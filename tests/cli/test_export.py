"""`valuelocate export` on its own app: its two arguments, the folder it prints, and a folder
that is not a run refused with the artifacts' error (the full export is tested in
tests/artifacts/test_export.py)."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from valuelocate.artifacts.files import ArtifactError
from valuelocate.cli.export import export_command


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(export_command)
    return app


def test_help_names_both_folders() -> None:
    shown = CliRunner().invoke(_app(), ["--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    usage = next(line for line in shown.output.splitlines() if "Usage:" in line)
    assert "run_dir" in usage and "out_dir" in usage
    assert "A finished run directory" in shown.output


def test_a_folder_that_is_not_a_run_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "hub"
    result = CliRunner().invoke(_app(), [str(tmp_path / "nope"), str(out)])
    assert isinstance(result.exception, ArtifactError)
    assert "nope does not exist; expected a run directory" in str(result.exception)
    assert not out.exists()


def test_gguf_options_need_gguf(tmp_path: Path) -> None:
    out = tmp_path / "hub"
    result = CliRunner().invoke(_app(), [str(tmp_path), str(out), "--approximate"])
    assert isinstance(result.exception, ValueError)
    assert "need --gguf" in str(result.exception)
    assert not out.exists()


def test_gguf_help_names_the_control_vectors() -> None:
    shown = CliRunner().invoke(_app(), ["--help"], env={"COLUMNS": "200"})
    assert "--gguf" in shown.output and "--approximate" in shown.output
    assert "control" in shown.output
