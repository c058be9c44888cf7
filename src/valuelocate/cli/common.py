"""Pieces every command shares: the model and device flags, and a rich progress bar that the
library reports to through a plain callback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from valuelocate.models import DEFAULT_MODEL
from valuelocate.vocab import Progress as ProgressFn

MODEL_HELP = (
    "Model: 'default' (embedded SmolLM2-135M-Instruct, offline), 'gemma-3-270m', "
    "'qwen2.5-coder-1.5b', a local folder, or a hub id."
)
MODEL_OPTION = typer.Option(DEFAULT_MODEL, "--model", "-m", help=MODEL_HELP)
DEVICE_OPTION = typer.Option(None, help="Device for the model (cpu, cuda, cuda:1); auto if unset.")


@contextmanager
def progress_bar(description: str, *, show: bool = True) -> Iterator[ProgressFn]:
    """A progress bar on stderr, handed to the library as ``progress(text, done, total)``."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show,
    )
    with bar:
        task = bar.add_task(description, total=None)

        def report(text: str, done: int, total: int) -> None:
            bar.update(task, description=text, completed=done, total=total)

        yield report
