"""``valuelocate run``: the main job, with a stage line and a progress bar per stage."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from valuelocate.artifacts.verdict import load_verdict
from valuelocate.cli.common import output_dir, progress_bar
from valuelocate.cli.evaluate import JUDGE_HELP
from valuelocate.cli.locate import print_summary
from valuelocate.cli.options import keyword, options_command, resume_option
from valuelocate.pipeline import RunOptions, default_run_dir, run
from valuelocate.reporting.verdict import verdict_lines

_STAGES = {
    "locate": "1/4 Locating",
    "evaluate": "2/4 Evaluating",
    "verdict": "3/4 Judging steering against its controls",
    "report": "4/4 Writing",
}


def print_verdict(verdict: Mapping[str, Any], console: Console, *, report: Path | None) -> None:
    """The verdict in at most 80 columns (:func:`~valuelocate.reporting.verdict.verdict_lines`):
    per dimension the default set, the gaps and a mark per test, then a sentence each."""
    lines = verdict_lines(verdict, report=None if report is None else str(report))
    for i, line in enumerate(lines):  # out(): no markup, no re-wrapping by rich
        console.out(line, style="bold" if i == 0 else None, highlight=False)


def _run(options: RunOptions, *, out: Path | None, judge: list[str], resume: bool) -> None:
    """The main job: locate value neurons, evaluate steering, judge it, write the HTML report.

    What each stage costs on 2 CPU cores with the embedded model (docs/run.md):
    machine index: seconds (a bare forward timed first, kept in the manifest);
    locate: about 2 min, the ladder of sparse sets included;
    evaluate: --evaluate probe (default) costs seconds and runs the sweep only
    where the questionnaire registers a persona prompt; full: about 5 min; off;
    verdict: 3-5 min per dimension some instrument can read (its persona
    prompt separates the poles), under a minute for one none can read (its persona
    prompts only; --sweep-unreadable measures it all the same); --no-verdict skips
    it; --choice-reading adds the A/B reading, for models that read it;
    report: seconds.
    """
    options = dataclasses.replace(options, judge=tuple(judge))
    options.validate()  # every stage's options, before the model is even loaded
    console = Console()
    run_dir = output_dir(out or default_run_dir(), "--out", resumable=True, resume=resume)
    started = time.perf_counter()
    console.rule(f"[bold]ValueLocate run[/] -> {run_dir}")
    stage_began = [started]

    def on_stage(name: str) -> None:
        # Each stage line also says how long the previous stage took (where the time goes).
        now = time.perf_counter()
        if name != "locate":
            console.print(f"  ({(now - stage_began[0]) / 60:.1f} min)")
        stage_began[0] = now
        console.print(f"[bold]{_STAGES[name]}[/] ...")

    with progress_bar("working") as progress:
        result = run(options, run_dir, resume=resume, on_stage=on_stage, progress=progress)
    console.print(f"  ({(time.perf_counter() - stage_began[0]) / 60:.1f} min)")
    print_summary(result.located.summary, console)
    if result.probe is not None:
        console.out(result.probe.line(), highlight=False)
    # The evaluation's table is long (one row per dimension, condition and gamma): the report
    # shows it, and `valuelocate evaluate` prints it; here only where it is.
    if result.evaluation is not None:
        console.out(f"Evaluation results: {result.evaluation.path}", highlight=False)
    if result.verdict is not None:
        print_verdict(load_verdict(result.run_dir), console, report=result.report)
    else:
        console.out(f"Full report: {result.report}", highlight=False)
    minutes = (time.perf_counter() - started) / 60
    # The machine's speed beside the wall time: a slow day shows as such.
    console.out(f"Done in {minutes:.1f} min; {result.machine.line()}.", highlight=False)
    print(result.report)


run_command = options_command(
    RunOptions,
    _run,
    trailing=[
        keyword(
            "out",
            Path | None,
            typer.Option(
                None,
                "--out",
                "-o",
                help="Run directory (default: runs/run-<date>-<time>).",
                readable=False,
            ),
        ),
        keyword("judge", list[str], typer.Option(["embedding"], "--judge", help=JUDGE_HELP)),
        keyword("resume", bool, resume_option()),
    ],
)
