"""``valuelocate report``: write a run's self-contained HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

from valuelocate.cli.common import input_run
from valuelocate.reporting import write_report


def report_command(
    run_dir: Path = typer.Argument(
        ...,
        help="Run directory written by `valuelocate locate` (and `evaluate`).",
        readable=False,
    ),
) -> None:
    """Write RUN_DIR/report.html: one self-contained page with every plot and table."""
    typer.echo(str(write_report(input_run(run_dir, "RUN_DIR", writes=True))))
