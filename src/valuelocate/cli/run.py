"""``valuelocate run``: the main job, with a stage line and a progress bar per stage."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import typer
from rich.console import Console

from valuelocate.cli.common import progress_bar
from valuelocate.cli.evaluate import JUDGE_HELP, print_results
from valuelocate.cli.locate import print_summary
from valuelocate.cli.options import keyword, options_command
from valuelocate.pipeline import RunOptions, default_run_dir, run

_STAGES = {"locate": "1/3 Locating", "evaluate": "2/3 Evaluating", "report": "3/3 Writing"}


def _run(options: RunOptions, *, out: Path | None, judge: list[str], resume: bool) -> None:
    """The main job: locate value neurons, evaluate steering, write the HTML report."""
    options = dataclasses.replace(options, judge=tuple(judge))
    options.validate()  # every stage's options, before the model is even loaded
    console = Console()
    run_dir = out or default_run_dir()
    started = time.perf_counter()
    console.rule(f"[bold]ValueLocate run[/] -> {run_dir}")
    with progress_bar("working") as progress:
        result = run(
            options,
            run_dir,
            resume=resume,
            on_stage=lambda name: console.print(f"[bold]{_STAGES[name]}[/] ..."),
            progress=progress,
        )
    print_summary(result.located.summary, console)
    print_results(result.evaluation, console)
    minutes = (time.perf_counter() - started) / 60
    console.print(f"Done in {minutes:.1f} min. Report: [bold]{result.report}[/]")
    print(result.report)


run_command = options_command(
    RunOptions,
    _run,
    trailing=[
        keyword(
            "out",
            Path | None,
            typer.Option(
                None, "--out", "-o", help="Run directory (default: runs/run-<date>-<time>)."
            ),
        ),
        keyword("judge", list[str], typer.Option(["embedding"], "--judge", help=JUDGE_HELP)),
        keyword(
            "resume",
            bool,
            typer.Option(False, "--resume", help="Continue an interrupted run in --out."),
        ),
    ],
)
