"""``valuelocate compare``: the grid of steering methods at matched cost, a table per dimension
and the chosen cell's dev-split verdict."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from valuelocate.cli.common import (
    DEVICE_OPTION,
    input_run,
    output_dir,
    progress_bar,
    table_console,
)
from valuelocate.cli.options import keyword, options_command
from valuelocate.comparison.forced_choice import direction
from valuelocate.comparison.options import CompareOptions
from valuelocate.comparison.rows import GridRow
from valuelocate.comparison.run import ALPHA, CompareResult, compare


def _num(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


def rows_table(title: str, rows: Sequence[GridRow], *, cost: str) -> Table:
    """Rows as a table; shifts are signed toward the targeted pole (positive = the right way)."""
    table = Table(title=title)
    for column in ("cell", "pole", "gamma", cost, "toward pole [95% CI]", "control", "p vs control",
                   "wrong way", "selectivity", "beats control"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("cell", "pole") else "right")
    for r in rows:
        sign = direction(r.pole)
        low, high = sorted((sign * r.ci_low, sign * r.ci_high))
        table.add_row(
            r.config,
            r.pole,
            _num(r.gamma, ".3g"),
            _num(r.cost, ".3f"),
            f"{r.toward:+.3f} [{low:+.3f}, {high:+.3f}]",
            _num(sign * r.control_shift, "+.3f"),
            _num(r.p_control, ".2g"),
            f"{r.wrong_way:.0%}",
            _num(r.selectivity, "+.3f"),
            "" if math.isnan(r.p_control) else ("yes" if r.beats_control(ALPHA) else "no"),
        )
    return table


def print_compare(result: CompareResult, console: Console) -> None:
    """One table per dimension (search split), the ranking's head and the dev verdict."""
    kind = result.budget.kind
    for dimension in dict.fromkeys(r.dimension for r in result.rows):
        rows = [r for r in result.rows if r.dimension == dimension]
        console.print(rows_table(f"{dimension}: search split at {result.budget}", rows, cost=kind))
    if result.chosen is None:
        console.print("No cell to choose (only the prompt baseline ran).")
        return
    best = result.ranking[0]
    console.print(
        f"Chosen on the search split: [bold]{result.chosen}[/] ({best.wins} directions beat the "
        f"control at p < {ALPHA}; mean shift toward the pole {best.mean_toward:+.4f} nats)"
    )
    if result.verdict:
        title = f"Dev split verdict: {result.chosen} at the search gammas"
        console.print(rows_table(title, result.verdict, cost=kind))
    if result.not_run:
        console.print(f"Not run (time limit): {', '.join(result.not_run)}")


def _compare(options: CompareOptions, *, out: Path, device: str | None) -> None:
    """Compare steering methods at matched cost: choose on the search split, verify on dev."""
    if options.run_dir is not None:  # before validate(), which reads the run's files
        run_dir = input_run(Path(options.run_dir), "--run-dir")
        options = dataclasses.replace(options, run_dir=str(run_dir))
    options.validate()  # every option, before the model is loaded
    out = output_dir(out, "--out")
    console = table_console()
    with progress_bar("comparing") as progress:
        result = compare(options, out, progress=progress, device=device)
    print_compare(result, console)
    console.print(f"Files in [bold]{result.out_dir}[/] ({result.seconds:.0f} s)")


compare_command = options_command(
    CompareOptions,
    _compare,
    trailing=[
        keyword(
            "out",
            Path,
            typer.Option(
                ..., "--out", "-o", help="Output folder (grid, verdict, summary).", readable=False
            ),
        ),
        keyword("device", str | None, DEVICE_OPTION),
    ],
)
