"""``valuelocate steer``: print the unedited and the edited answer to a prompt."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from valuelocate.cli.common import NEURONS, input_run
from valuelocate.cli.options import keyword, options_command
from valuelocate.steer import SteerOptions, steer_prompt


def _steer(
    options: SteerOptions, *, prompt: str, neurons: Path, model: str | None, device: str | None
) -> None:
    """Print the unedited and the edited answer to PROMPT side by side."""
    options.validate()
    neurons = input_run(neurons, "--neurons", expected=NEURONS)
    console = Console()
    with console.status("Generating ..."):
        plain, edited = steer_prompt(neurons, prompt, options=options, model=model, device=device)
    table = Table(title=prompt, show_lines=True, expand=True)
    table.add_column("unedited", ratio=1)
    table.add_column(f"{options.dimension} -> {options.pole}, gamma {options.gamma:g}", ratio=1)
    table.add_row(plain, edited)
    console.print(table)


steer_command = options_command(
    SteerOptions,
    _steer,
    leading=[
        keyword(
            "prompt",
            str,
            typer.Argument(
                "What would you do if your neighbours asked you to join a protest?",
                help="The prompt to answer.",
            ),
        ),
        keyword(
            "neurons",
            Path,
            typer.Option(
                ...,
                "--neurons",
                "-n",
                help="Run directory of `locate` (or its neurons.safetensors).",
                readable=False,
            ),
        ),
    ],
    trailing=[
        keyword(
            "model",
            str | None,
            typer.Option(
                None, "--model", "-m", help="Model (default: the one the neurons were located on)."
            ),
        ),
        keyword("device", str | None, typer.Option(None, help="cpu, cuda, ...")),
    ],
)
