"""``valuelocate evaluate``: score steering on a located run, print a summary table."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from valuelocate.cli.common import input_run, progress_bar, table_console
from valuelocate.cli.options import keyword, options_command
from valuelocate.evaluation import EvaluateOptions, EvaluationResult, ScoreRow, evaluate
from valuelocate.evaluation.judges import JudgeConfig
from valuelocate.llm import DEFAULT_API_KEY_ENV, DEFAULT_BASE_URL, LLMError


def print_results(result: EvaluationResult, console: Console) -> None:
    """A summary table: per steered dimension, condition and gamma, the steered dimension's
    questionnaire score and judge means, the perplexity ratio and the degenerate share."""
    measures = [m for m in result.data["measures"] if m != "questionnaire"]
    table = Table(title="Evaluation (mean [95% CI]; p vs random control)")
    for column in ("dimension", "condition", "gamma", "questionnaire", *measures):
        table.add_column(
            column, justify="left" if column in ("dimension", "condition") else "right"
        )
    by_key: dict[tuple[str, str, float | None, str], ScoreRow] = {}
    for row in result.scores:
        if row.scored_dimension in (None, row.steered_dimension):
            by_key[(row.steered_dimension, row.condition, row.gamma, row.measure)] = row
    seen = dict.fromkeys((r.steered_dimension, r.condition, r.gamma) for r in result.scores)
    for dimension, condition, gamma in seen:
        cells = []
        for measure in ("questionnaire", *measures):
            found = by_key.get((dimension, condition, gamma, measure))
            cells.append("" if found is None else _cell(found))
        table.add_row(dimension, condition, "" if gamma is None else f"{gamma:g}", *cells)
    console.print(table)


def _cell(row: ScoreRow) -> str:
    if row.n == 0:
        return "-"
    text = f"{row.mean:.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}]"
    if row.p_vs_random is not None:
        text += f" p={row.p_vs_random:.3f}"
    return text


def _evaluate(
    options: EvaluateOptions,
    *,
    run_dir: Path,
    judge: list[str],
    judge_base_url: str,
    judge_api_key_env: str,
    judge_samples: int,
    judge_temperature: float,
    model: str | None,
    dtype: str | None,
    device: str | None,
) -> None:
    """Evaluate steering: questionnaire, judged answers, cost and leakage, with 95% CIs."""
    options.validate()
    run_dir = input_run(run_dir, "RUN_DIR", writes=True)  # results go to RUN_DIR/evaluation
    config = JudgeConfig(
        base_url=judge_base_url,
        api_key_env=judge_api_key_env,
        samples=judge_samples,
        temperature=judge_temperature,
        device=device,
        seed=options.seed,
    )
    console = table_console()
    try:
        with progress_bar("evaluating") as progress:
            result = evaluate(
                run_dir,
                options=options,
                judges=judge,
                judge_config=config,
                model=model,
                device=device,
                dtype=dtype,
                progress=progress,
            )
    except LLMError as exc:  # the judge's endpoint failed: a user-fixable error
        raise ValueError(str(exc)) from None
    print_results(result, console)
    console.print(f"Results in [bold]{result.path.parent}[/] ({result.data['seconds']:.0f} s)")


JUDGE_HELP = (
    "Judge, repeatable: embedding (offline, all-MiniLM-L6-v2), openai:MODEL (any "
    "OpenAI-compatible endpoint, see --judge-base-url), hf:MODEL (a local transformers "
    "model: default, a folder or a hub id)."
)

evaluate_command = options_command(
    EvaluateOptions,
    _evaluate,
    leading=[
        keyword(
            "run_dir",
            Path,
            typer.Argument(
                ..., help="A finished `valuelocate locate` run directory.", readable=False
            ),
        ),
        keyword("judge", list[str], typer.Option(["embedding"], "--judge", help=JUDGE_HELP)),
    ],
    trailing=[
        keyword(
            "judge_base_url",
            str,
            typer.Option(
                DEFAULT_BASE_URL,
                help="API root of the openai judge, e.g. http://localhost:8000/v1.",
            ),
        ),
        keyword(
            "judge_api_key_env",
            str,
            typer.Option(
                DEFAULT_API_KEY_ENV,
                help="Name of the environment variable that holds the openai judge's API key.",
            ),
        ),
        keyword(
            "judge_samples",
            int,
            typer.Option(
                5, min=1, help="Ratings per answer for the openai and hf judges (the study: 20)."
            ),
        ),
        keyword(
            "judge_temperature",
            float,
            typer.Option(1.0, min=0.0, help="Their sampling temperature."),
        ),
        keyword(
            "model",
            str | None,
            typer.Option(
                None,
                "--model",
                "-m",
                help="Use this model instead of the run's (same architecture).",
            ),
        ),
        keyword(
            "dtype",
            str | None,
            typer.Option(None, help="float32, bfloat16 ... (default: the run's)."),
        ),
        keyword(
            "device", str | None, typer.Option(None, help="cpu, cuda, cuda:1 ... (default: cpu).")
        ),
    ],
)
