"""``valuelocate lm-eval-task``: the forced-choice items as an lm-evaluation-harness task folder."""

from __future__ import annotations

from pathlib import Path

import typer

from valuelocate.cli.common import MODEL_OPTION
from valuelocate.data.forced_choice import FORCED_CHOICE_SPLITS
from valuelocate.data.lm_eval_task import GROUP, write_lm_eval_task
from valuelocate.data.schema import DIMENSIONS
from valuelocate.model_files import load_tokenizer


def lm_eval_task_command(
    out_dir: Path = typer.Argument(..., help="New (or empty) folder to write the tasks into."),
    model: str = MODEL_OPTION,
    split: str = typer.Option(
        "test", help=f"Forced-choice split: {', '.join(FORCED_CHOICE_SPLITS)} (test: held out)."
    ),
    dimension: list[str] = typer.Option(
        None, "--dimension", "-d", help="A dimension to write (repeatable); default: all four."
    ),
) -> None:
    """Write OUT_DIR: one lm-evaluation-harness task per dimension and their group.

    Metrics: `acc`, the share of items whose affirming answer is more likely per token, and
    `dll`, the mean per-token log-likelihood difference (nats). The answers' token counts come
    from --model's tokenizer. Run it with
    `lm_eval --include_path OUT_DIR --tasks valuelocate_values --model ...`.
    """
    dimensions = list(dimension) if dimension else list(DIMENSIONS)
    tokenizer = load_tokenizer(model)
    written = write_lm_eval_task(
        out_dir, tokenizer=tokenizer, tokenizer_name=model, split=split, dimensions=dimensions
    )
    typer.echo(f"{written}  (lm_eval --include_path {written} --tasks {GROUP} ...)")
