"""`valuelocate.cli.common`: the progress bar the library reports to through a callback."""

from __future__ import annotations

import pytest

from valuelocate.cli.common import MODEL_OPTION, progress_bar
from valuelocate.models import DEFAULT_MODEL


def test_progress_bar_shows_what_the_library_reports(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar("working") as progress:
        progress("judging conservation", 2, 7)
    err = capsys.readouterr().err
    assert "judging conservation" in err and "2/7" in err


def test_a_hidden_bar_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar("working", show=False) as progress:
        progress("step", 1, 2)
    assert capsys.readouterr().err == ""


def test_the_model_flag_defaults_to_the_embedded_model() -> None:
    assert MODEL_OPTION.default == DEFAULT_MODEL


def test_a_table_written_to_a_pipe_keeps_its_cells(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.table import Table

    from valuelocate.cli.common import TABLE_WIDTH, table_console

    monkeypatch.delenv("COLUMNS", raising=False)
    table = Table()
    cells = [f"desc+band+mean-diff@down_in column {i}" for i in range(4)]
    for i in range(4):
        table.add_column(f"heading {i}")
    table.add_row(*cells)
    console = table_console()  # pytest captures stdout: not a terminal
    assert not console.is_terminal and console.width == TABLE_WIDTH
    console.print(table)
    shown = capsys.readouterr().out
    assert all(cell in shown for cell in cells), shown
    # The user's COLUMNS still wins.
    monkeypatch.setenv("COLUMNS", "100")
    assert table_console().width == 100
