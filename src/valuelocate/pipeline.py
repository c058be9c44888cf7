"""``valuelocate run``: the main job. Data -> locate -> evaluate -> report, in one command.

The defaults are quick settings that finish on a 2-core CPU in about a quarter of an hour on
the embedded model; every stage's own command (``locate``, ``evaluate``, ``report``) has the
full set of options for real experiments.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console

from valuelocate.data import DIMENSIONS
from valuelocate.evaluate import evaluate, parse_gammas, print_results
from valuelocate.locate_cli import print_summary
from valuelocate.locating import LocateOptions, locate
from valuelocate.models import load_model
from valuelocate.report import write_report


def default_run_dir() -> Path:
    """``runs/run-YYYYmmdd-HHMMSS`` under the current directory (a new one each time)."""
    return Path("runs") / datetime.now().strftime("run-%Y%m%d-%H%M%S")


def run_command(
    model: str = typer.Option(
        "default", "--model", "-m", help="'default' (embedded SmolLM2), a local folder or hub id."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Run directory (default: runs/run-<date>-<time>)."
    ),
    prompts_per_pole: int = typer.Option(16, min=1, help="Search prompts per pole for locating."),
    max_new_tokens: int = typer.Option(16, min=1, help="Answer length while locating."),
    gammas: str = typer.Option("0,1,2", help="Comma-separated gamma sweep for evaluation."),
    judge: list[str] = typer.Option(
        ["embedding"], "--judge", help="Judges to run: embedding, hf, openai (repeatable)."
    ),
    judge_prompts: int = typer.Option(2, min=0, help="Test prompts per dimension to judge."),
    answer_tokens: int = typer.Option(24, min=1, help="Answer length of judged answers."),
    method: str = typer.Option("delta-p", help="Selection method (see `locate --help`)."),
    seed: int = typer.Option(0, help="Seed of every random choice."),
    device: str | None = typer.Option(None, help="cpu, cuda, ..."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out."),
) -> None:
    """The main job: locate value neurons, evaluate steering, write the HTML report."""
    console = Console()
    run_dir = out or default_run_dir()
    started = time.perf_counter()
    console.rule(f"[bold]ValueLocate run[/] -> {run_dir}")
    lm = load_model(model, device=device)
    options = LocateOptions(
        model=model,
        dimensions=DIMENSIONS,
        prompts_per_pole=prompts_per_pole,
        max_new_tokens=max_new_tokens,
        seed=seed,
        device=device,
        method=method,
    )
    console.print("[bold]1/3 Locating[/] value neurons on the search split ...")
    with console.status("locating ...") as status:

        def on_progress(job, counters):  # type: ignore[no-untyped-def]
            status.update(
                f"locating {job.key}: {counters.prompts_done}/{counters.prompts_total} prompts"
            )

        result = locate(options, run_dir, resume=resume, lm=lm, progress=on_progress)
    print_summary(result.summary, console)
    console.print(f"[bold]2/3 Evaluating[/] steering (gammas {gammas}) ...")
    evaluation = evaluate(
        run_dir,
        lm=lm,
        gammas=parse_gammas(gammas),
        judges=judge,
        judge_prompts=judge_prompts,
        max_new_tokens=answer_tokens,
        seed=seed,
    )
    print_results(evaluation, console)
    console.print("[bold]3/3 Writing[/] the report ...")
    report = write_report(run_dir)
    minutes = (time.perf_counter() - started) / 60
    console.print(f"Done in {minutes:.1f} min. Report: [bold]{report}[/]")
    print(report)
