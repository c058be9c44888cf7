"""`valuelocate locate`'s own pieces: the flags the command declares around
:class:`~valuelocate.locating.LocateOptions`, and the summary tables it prints."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from valuelocate.artifacts.records import PoleSparsity, RunSummary
from valuelocate.cli import locate as cli_locate
from valuelocate.cli.locate import locate_command, print_summary
from valuelocate.locating import LocateOptions


def test_help_lists_the_commands_own_flags() -> None:
    app = typer.Typer()
    app.command()(locate_command)
    shown = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    for flag in ("--out", "--dist-timeout", "--resume", "--model", "--dimensions", "--no-ladder",
                 "--ladder-fractions", "0.001,0.003,0.01,0.03,0.1"):  # fmt: skip
        assert flag in shown.output


def test_the_ladder_flags_reach_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[LocateOptions] = []
    monkeypatch.setattr(cli_locate, "_run", lambda options, out, **_: seen.append(options))
    app = typer.Typer()
    app.command()(locate_command)
    runner = CliRunner()
    out = ["--out", str(Path("unused"))]
    assert runner.invoke(app, out).exit_code == 0
    assert seen[-1].ladder is True and seen[-1].ladder_fractions == (0.001, 0.003, 0.01, 0.03, 0.1)
    given = runner.invoke(app, [*out, "--no-ladder", "--ladder-fractions", "0.01,0.2"])
    assert given.exit_code == 0, given.output
    assert seen[-1].ladder is False and seen[-1].ladder_fractions == (0.01, 0.2)
    bad = runner.invoke(app, [*out, "--ladder-fractions", "0.2,0.01"])
    assert bad.exit_code != 0 and len(seen) == 2
    assert "--ladder-fractions must ascend" in f"{bad.output}{bad.exception}"


def test_summary_tables_split_the_layers_and_show_the_overlaps() -> None:
    def pole(per_layer: list[int]) -> PoleSparsity:
        return PoleSparsity(count=sum(per_layer), percent=sum(per_layer) / 40, per_layer=per_layer)

    summary = RunSummary(
        total_neurons=4000,
        num_layers=4,
        neurons_per_layer=1000,
        dimensions={
            "conservation": {"affirm": pole([1, 2, 3, 4]), "oppose": pole([0, 0, 5, 0])},
            "openness_to_change": {"affirm": pole([7, 0, 0, 0]), "oppose": pole([0, 1, 0, 0])},
        },
        overlap={
            p: {
                "conservation": {"conservation": 1.0, "openness_to_change": 0.125},
                "openness_to_change": {"conservation": 0.125, "openness_to_change": 1.0},
            }
            for p in ("affirm", "oppose")
        },
    )
    out = io.StringIO()
    print_summary(summary, Console(file=out, width=200))
    text = out.getvalue()
    assert "Selected neurons (of 4,000)" in text
    assert "3 / 7" in text  # conservation affirm: layers 0-1 hold 3, layers 2-3 hold 7
    assert "1 2 8 4" in text  # its layer profile, both poles added
    assert "Overlap (Jaccard) of the affirm sets" in text and "0.125" in text
