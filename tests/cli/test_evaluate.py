"""`valuelocate evaluate` on the command line: its own flags, a bad option as one clear
error, and the summary table."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from typer.testing import CliRunner

from report_fixture import make_run
from valuelocate.cli.evaluate import evaluate_command, print_results
from valuelocate.evaluation import EvaluationResult
from valuelocate.reporting import load_run


def test_command_line_options(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(evaluate_command)
    runner = CliRunner()
    shown = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    for option in ("--gammas", "--judge", "--judge-prompts", "--judge-api-key-env", "--edit-scope",
                   "--judge-base-url", "--judge-samples", "--judge-temperature", "--model",
                   "--dtype", "--device"):  # fmt: skip
        assert option in shown.output
    assert "--site" not in shown.output, "the site is read from the run, not a flag"
    bad = runner.invoke(app, [str(tmp_path), "--gammas", "0,strong"])
    assert isinstance(bad.exception, ValueError) and "--gammas" in str(bad.exception)
    # Options are checked before the run directory is read.
    bad = runner.invoke(app, [str(tmp_path / "absent"), "--dimensions", "kindness"])
    assert isinstance(bad.exception, ValueError) and "kindness" in str(bad.exception)


def test_summary_table_shows_the_steered_dimensions_figures(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    evaluation = load_run(run_dir).evaluation
    assert evaluation is not None

    data = json.loads((run_dir / "evaluation" / "results.json").read_text())
    result = EvaluationResult(run_dir, run_dir / "evaluation" / "results.json", data,
                              list(evaluation.rows), list(evaluation.leakage),
                              list(evaluation.examples))  # fmt: skip
    console = Console(width=400, record=True)
    print_results(result, console)
    text = console.export_text()
    where = {"steered_dimension": "conservation", "scored_dimension": "conservation"}
    (row,) = result.select(measure="questionnaire", condition="affirm", gamma=1.0, **where)
    cell = f"{row.mean:.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}]"
    if row.p_vs_random is not None:
        cell += f" p={row.p_vs_random:.3f}"
    assert cell in text
    for measure in data["measures"]:
        if measure != "questionnaire":
            assert measure in text
