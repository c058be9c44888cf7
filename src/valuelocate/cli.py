"""The ``valuelocate`` command line. Each stage's commands live beside the stage's module;
this file only assembles them and turns expected errors into one clear line (no traceback)."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from valuelocate.architectures import UnsupportedArchitectureError
from valuelocate.artifacts import ArtifactError
from valuelocate.models import ModelLoadError

app = typer.Typer(
    name="valuelocate",
    help="Find the MLP neurons that carry human values in LLMs, and edit them to prove it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

MODEL_HELP = (
    "Model: 'default' (embedded SmolLM2-135M-Instruct, offline), a local folder, or a hub id."
)

# Errors a user can cause and fix; they are printed as one line, never as a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (
    ModelLoadError,
    UnsupportedArchitectureError,
    ArtifactError,
    FileNotFoundError,
    ValueError,
)


def _register_commands() -> None:
    # Imported here so that each stage owns its commands and `valuelocate --help` lists them.
    from valuelocate import demo
    from valuelocate.evaluate import evaluate_command
    from valuelocate.locate_cli import locate_command
    from valuelocate.pipeline import run_command
    from valuelocate.report import report_command
    from valuelocate.steer import steer_command

    app.command("run")(run_command)
    app.command("info")(demo.info_command)
    app.command("demo")(demo.demo_command)
    app.command("locate")(locate_command)
    app.command("steer")(steer_command)
    app.command("evaluate")(evaluate_command)
    app.command("report")(report_command)
    from valuelocate.cli_serve import serve_command  # serve (issue 11)

    app.command("serve")(serve_command)
    from valuelocate.data.cli import data_app
    from valuelocate.data.generate_cli import generate_command

    data_app.command("generate")(generate_command)
    app.add_typer(data_app, name="data")


_register_commands()


def main() -> None:
    """Entry point of the ``valuelocate`` script."""
    err = Console(stderr=True)
    try:
        app()
    except USER_ERRORS as exc:
        # Escape the message: it may hold brackets (`valuelocate[vllm]`) that rich would eat.
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        sys.exit(130)
