"""``valuelocate data generate``: write new dataset items with an LLM (see :mod:`.generate`).

Its flags are the fields of :class:`~valuelocate.data.generate.DataGenerationConfig` (what to
write) and :class:`~valuelocate.data.generate.GeneratorBackendOptions` (with which model).
:func:`generate_command` is a plain function, registered on the ``data`` group with
``data_app.command("generate")(generate_command)``, so that tests can mount it on their own app.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from valuelocate.cli.common import output_file
from valuelocate.cli.options import choice_type, options_command
from valuelocate.data.generate import (
    DataGenerationConfig,
    GenerationError,
    GenerationReport,
    GeneratorBackendOptions,
    generate,
)
from valuelocate.llm import Backend, LLMError
from valuelocate.models import ModelLoadError

# The choices typer lists and checks, made from the options' declared choices (the schema's
# DIMENSIONS, POLES and SPLITS).
KindChoice = choice_type(DataGenerationConfig, "kind")
DimensionChoice = choice_type(DataGenerationConfig, "dimension")
PoleChoice = choice_type(DataGenerationConfig, "poles")
SplitChoice = choice_type(DataGenerationConfig, "split")
BackendChoice = choice_type(GeneratorBackendOptions, "backend")
DtypeChoice = choice_type(GeneratorBackendOptions, "dtype")

# Exit status when the run stopped at --max-attempts before reaching --count.
EXIT_INCOMPLETE = 1
# Exit status for an unusable file, a refused request or bad options.
EXIT_ERROR = 2


def _generate(config: DataGenerationConfig, model: GeneratorBackendOptions) -> None:
    """Write new descriptions or situational prompts with an LLM, validated and de-duplicated.

    Resumable: rerun the same command after an interruption to finish the file.
    """
    console = Console(stderr=True)
    chosen: Backend | None = None
    try:
        config.check()
        output_file(config.out, "--out")  # appended to (resumed) when it exists
        chosen = model.load()
        report = _run_with_progress(config, chosen, console)
    except (GenerationError, LLMError, ModelLoadError, ValueError, OSError) as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        failures = getattr(chosen, "failures", None)
        if failures is not None and failures.calls:
            console.print(escape(f"endpoint: {failures.summary()}"), highlight=False)
        raise typer.Exit(EXIT_ERROR) from None
    console.print(escape(f"{config.out}: {report.summary()}"), highlight=False, soft_wrap=True)
    if report.reasons:
        why = ", ".join(f"{reason} ({n})" for reason, n in report.reasons.most_common())
        console.print(escape(f"malformed: {why}"), highlight=False, soft_wrap=True)
    if not report.complete:
        console.print(
            f"[bold red]error:[/] stopped after {report.attempts} model calls (--max-attempts "
            f"{report.max_attempts}) with {report.total} of {report.target} records: the "
            "model's answers were rejected. Try a stronger --model, a lower --temperature or "
            "fewer --per-call; rerun to resume.",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INCOMPLETE)


generate_command = options_command((DataGenerationConfig, GeneratorBackendOptions), _generate)


def _run_with_progress(
    config: DataGenerationConfig, backend: Backend, console: Console
) -> GenerationReport:
    """Run :func:`generate` under a rich progress bar of records in FILE / target.

    Args:
        config: the run.
        backend: the model.
        console: where the bar and warnings go (stderr).

    Returns:
        The report.
    """
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rejected]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(f"{config.kind}/{config.dimension}", total=config.count, rejected="")
        warned = False

        def update(report: GenerationReport) -> None:
            nonlocal warned
            if report.dropped_partial and not warned:
                bar.console.print(
                    f"[yellow]warning:[/] {escape(str(config.out))} ended in a partial line (an "
                    "interrupted write); it was dropped and the file rewritten without it.",
                    highlight=False,
                )
                warned = True
            rejected = (
                f"rejected {report.rejected_malformed} malformed, "
                f"{report.rejected_duplicate} duplicate"
            )
            bar.update(task, completed=min(report.total, config.count), rejected=rejected)

        try:
            return generate(config, backend, progress=update)
        except KeyboardInterrupt:
            bar.console.print(
                f"[yellow]interrupted:[/] {escape(str(config.out))} is valid; rerun the same "
                "command to resume.",
                highlight=False,
            )
            raise
