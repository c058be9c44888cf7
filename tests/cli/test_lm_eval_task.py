"""`valuelocate lm-eval-task` on its own app: it writes the folder with --model's tokenizer
and prints it with the lm_eval command; an existing folder is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from valuelocate.cli.lm_eval_task import lm_eval_task_command

from tiny_models import STORIES

pytestmark = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(lm_eval_task_command)
    return app


def test_writes_one_dimension_and_prints_the_command(tmp_path: Path) -> None:
    out = tmp_path / "tasks"
    args = [str(out), "--model", str(STORIES), "-d", "self_enhancement"]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert "lm_eval --include_path" in result.output
    assert (out / "valuelocate_values_self_enhancement.yaml").is_file()
    assert not (out / "valuelocate_values_conservation.yaml").exists()
    again = CliRunner().invoke(_app(), args)
    assert isinstance(again.exception, ValueError)
