"""``valuelocate run``: the main job, with a stage line and a progress bar per stage."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from valuelocate.cli.common import progress_bar
from valuelocate.cli.evaluate import JUDGE_HELP, print_results
from valuelocate.cli.locate import print_summary
from valuelocate.cli.options import keyword, options_command, resume_option
from valuelocate.comparison.verdict import Verdict
from valuelocate.pipeline import RunOptions, default_run_dir, run

_STAGES = {
    "locate": "1/4 Locating",
    "evaluate": "2/4 Evaluating",
    "verdict": "3/4 Judging steering against its controls",
    "report": "4/4 Writing",
}


def print_verdict(verdict: Verdict, console: Console) -> None:
    """The verdict table: per direction and method, the forced-choice shift toward the pole
    (nats) with its CI, the control's shift and the p-value against it."""
    table = Table(title=f"Verdict (forced-choice test split, budget {verdict.budget})")
    for column in ("method", "dimension", "pole", "gamma", "ppl", "shift [95% CI]", "control",
                   "p", "beats control"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("method", "dimension") else "right")
    for r in verdict.rows:
        row = r.row
        table.add_row(
            r.method,
            row.dimension,
            row.pole,
            f"{row.gamma:.3g}",
            f"{row.cost:.3f}",
            f"{row.shift:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}]",
            f"{row.control_shift:+.3f}",
            f"{row.p_control:.2g}",
            "-" if r.method == "prompt" else ("yes" if r.beats_control else "no"),
        )
    console.print(table)
    for method in verdict.configs:
        if method != "prompt":
            wins, total = verdict.wins(method)
            console.print(f"{method} ({verdict.configs[method]}): {wins}/{total} directions "
                          f"beat their control at p < {verdict.alpha:g}")  # fmt: skip


def _run(options: RunOptions, *, out: Path | None, judge: list[str], resume: bool) -> None:
    """The main job: locate value neurons, evaluate steering, write the HTML report."""
    options = dataclasses.replace(options, judge=tuple(judge))
    options.validate()  # every stage's options, before the model is even loaded
    console = Console()
    run_dir = out or default_run_dir()
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
    print_results(result.evaluation, console)
    if result.verdict is not None:
        print_verdict(result.verdict, console)
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
        keyword("resume", bool, resume_option()),
    ],
)
