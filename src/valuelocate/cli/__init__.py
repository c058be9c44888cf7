"""The ``valuelocate`` command line: the only part of the package that imports typer and rich.

One module per command; this one assembles them and turns expected errors into one clear line
(no traceback)."""

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

# Errors a user can cause and fix; they are printed as one line, never as a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (
    ModelLoadError,
    UnsupportedArchitectureError,
    ArtifactError,
    FileNotFoundError,
    ValueError,
)


def _register_commands() -> None:
    from valuelocate.cli.compare import compare_command
    from valuelocate.cli.data import data_app
    from valuelocate.cli.demo import demo_command, info_command
    from valuelocate.cli.doctor import doctor_command
    from valuelocate.cli.evaluate import evaluate_command
    from valuelocate.cli.export import export_command
    from valuelocate.cli.generate import generate_command
    from valuelocate.cli.lm_eval_task import lm_eval_task_command
    from valuelocate.cli.locate import locate_command
    from valuelocate.cli.report import report_command
    from valuelocate.cli.run import run_command
    from valuelocate.cli.serve import serve_command
    from valuelocate.cli.steer import steer_command

    app.command("run")(run_command)
    app.command("info")(info_command)
    app.command("demo")(demo_command)
    app.command("locate")(locate_command)
    app.command("steer")(steer_command)
    app.command("evaluate")(evaluate_command)
    app.command("compare")(compare_command)
    app.command("report")(report_command)
    app.command("serve")(serve_command)
    app.command("export")(export_command)
    app.command("lm-eval-task")(lm_eval_task_command)
    app.command("doctor")(doctor_command)
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
