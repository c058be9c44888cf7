"""``valuelocate data generate``: write new dataset items with an LLM (see :mod:`.generate`).

:func:`generate_command` is a plain function, registered on the ``data`` group with
``data_app.command("generate")(generate_command)``, so that tests can mount it on their own app.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from valuelocate.data.generate import (
    GenerationConfig,
    GenerationError,
    GenerationReport,
    generate,
)
from valuelocate.data.schema import POLES
from valuelocate.llm import DEFAULT_API_KEY_ENV, DEFAULT_BASE_URL, Backend, LLMError
from valuelocate.models import ModelLoadError

# The choices below mirror valuelocate.data.schema (a test checks that they agree); typer needs
# Enum classes to show and check choices.


class KindChoice(str, Enum):
    """What ``--kind`` accepts."""

    descriptions = "descriptions"
    prompts = "prompts"


class DimensionChoice(str, Enum):
    """What ``--dimension`` accepts: the schema's DIMENSIONS."""

    openness_to_change = "openness_to_change"
    conservation = "conservation"
    self_transcendence = "self_transcendence"
    self_enhancement = "self_enhancement"


class BackendChoice(str, Enum):
    """What ``--backend`` accepts."""

    hf = "hf"
    openai = "openai"


class PoleChoice(str, Enum):
    """What ``--pole`` accepts: the schema's POLES, or both."""

    affirm = "affirm"
    oppose = "oppose"
    both = "both"


class SplitChoice(str, Enum):
    """What ``--split`` accepts: the schema's SPLITS, or auto."""

    auto = "auto"
    search = "search"
    test = "test"


class DtypeChoice(str, Enum):
    """What ``--dtype`` accepts."""

    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"
    auto = "auto"


# Exit status when the run stopped at --max-attempts before reaching --count.
EXIT_INCOMPLETE = 1
# Exit status for an unusable file, a refused request or bad options.
EXIT_ERROR = 2


def _make_backend(
    backend: str,
    model: str,
    *,
    base_url: str,
    api_key_env: str,
    timeout: float,
    retries: int,
    device: str | None,
    dtype: str,
) -> Backend:
    if backend == "hf":
        from valuelocate.llm.hf import HFBackend

        return HFBackend.load(model, dtype=dtype, device=device)
    from valuelocate.llm.openai_compat import OpenAIBackend

    return OpenAIBackend.from_env(
        model, base_url=base_url, api_key_env=api_key_env, timeout=timeout, retries=retries
    )


def generate_command(
    kind: KindChoice = typer.Option(
        ...,
        "--kind",
        help="What to write: 'descriptions' (first-person value statements of one pole) or "
        "'prompts' (neutral situations ending in an open question).",
    ),
    dimension: DimensionChoice = typer.Option(
        ...,
        "--dimension",
        help="The higher-order value dimension the items are about.",
    ),
    count: int = typer.Option(
        ...,
        "--count",
        min=1,
        help="How many records of this dimension (and poles) FILE should hold when done; records "
        "already in FILE count toward it, so rerunning the same command resumes.",
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        dir_okay=False,
        help="JSON Lines file to append to (created if missing). Each record is written and "
        "fsync'd on its own line; an interrupted run leaves a valid file.",
    ),
    backend: BackendChoice = typer.Option(
        BackendChoice.hf,
        "--backend",
        help="'hf': a local transformers model. 'openai': any OpenAI-compatible "
        "chat-completions endpoint (see --base-url).",
    ),
    model: str = typer.Option(
        "default",
        "--model",
        help="hf: 'default' (embedded SmolLM2-135M-Instruct), a local folder or a hub id. "
        "openai: the model name the endpoint knows (e.g. gpt-4o).",
    ),
    pole: PoleChoice = typer.Option(
        PoleChoice.both,
        "--pole",
        help="Descriptions only: the pole to write; 'both' keeps the two poles balanced.",
    ),
    split: SplitChoice = typer.Option(
        SplitChoice.auto,
        "--split",
        help="Prompts only: the split of the new prompts; 'auto' puts a stable, id-hashed "
        "--test-fraction of them in 'test' and the rest in 'search'.",
    ),
    test_fraction: float = typer.Option(
        0.2, "--test-fraction", min=0.0, max=1.0, help="Share of 'test' prompts under --split auto."
    ),
    per_call: int = typer.Option(
        5, "--per-call", min=1, help="Items asked for in one model call (as one JSON list)."
    ),
    temperature: float = typer.Option(
        0.9, "--temperature", min=0.0, help="Sampling temperature; 0 decodes greedily."
    ),
    max_tokens: int = typer.Option(
        1024, "--max-tokens", min=1, help="Most new tokens the model may write per call."
    ),
    max_attempts: int | None = typer.Option(
        None,
        "--max-attempts",
        min=1,
        help="Most model calls before giving up (exit status 1). Default: 3 x the calls needed "
        "+ 5, so that a model that writes only junk stops.",
    ),
    seed: int = typer.Option(
        0,
        "--seed",
        help="Seeds the order of targets, the examples shown and the sampling (hf; sent as "
        "'seed' to openai endpoints, which may or may not honour it).",
    ),
    similarity: float = typer.Option(
        0.5,
        "--similarity",
        min=0.01,
        max=1.0,
        help="Word 3-gram Jaccard similarity at or above which a new item counts as a duplicate "
        "of a shipped item, an item in FILE, or another new item (0.5: the threshold of "
        "`valuelocate data stats`).",
    ),
    id_prefix: str = typer.Option(
        "gen",
        "--id-prefix",
        help="New ids are PREFIX-DIMENSION-NNNNN, numbered after the highest already in FILE.",
    ),
    base_url: str = typer.Option(
        DEFAULT_BASE_URL,
        "--base-url",
        help="openai: the API root; requests go to BASE_URL/chat/completions (e.g. "
        "http://localhost:8000/v1 for a local vLLM or llama.cpp server).",
    ),
    api_key_env: str = typer.Option(
        DEFAULT_API_KEY_ENV,
        "--api-key-env",
        help="openai: the environment variable holding the API key (the key itself is never "
        "printed or written). May be unset for endpoints other than OpenAI's.",
    ),
    timeout: float = typer.Option(
        120.0,
        "--timeout",
        min=0.1,
        help="openai: seconds one request may take, the whole answer included.",
    ),
    retries: int = typer.Option(
        3,
        "--retries",
        min=0,
        help="openai: further tries after a timeout, HTTP 429/5xx, a broken connection or a "
        "malformed answer, with doubling backoff (or what Retry-After asks).",
    ),
    device: str | None = typer.Option(
        None, "--device", help="hf: where to run the model (cpu, cuda, cuda:1)."
    ),
    dtype: DtypeChoice = typer.Option(
        DtypeChoice.float32,
        "--dtype",
        help="hf: the weights' dtype.",
    ),
) -> None:
    """Write new descriptions or situational prompts with an LLM, validated and de-duplicated.

    Resumable: rerun the same command after an interruption to finish the file.
    """
    console = Console(stderr=True)
    config = GenerationConfig(
        kind=kind.value,
        dimension=dimension.value,
        count=count,
        out=out,
        poles=POLES if pole is PoleChoice.both else (pole.value,),
        split=split.value,
        test_fraction=test_fraction,
        per_call=per_call,
        temperature=temperature,
        max_tokens=max_tokens,
        max_attempts=max_attempts,
        seed=seed,
        similarity=similarity,
        id_prefix=id_prefix,
    )
    chosen: Backend | None = None
    try:
        config.check()
        chosen = _make_backend(
            backend.value,
            model,
            base_url=base_url,
            api_key_env=api_key_env,
            timeout=timeout,
            retries=retries,
            device=device,
            dtype=dtype.value,
        )
        report = _run_with_progress(config, chosen, console)
    except (GenerationError, LLMError, ModelLoadError, ValueError, OSError) as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        failures = getattr(chosen, "failures", None)
        if failures is not None and failures.calls:
            console.print(escape(f"endpoint: {failures.summary()}"), highlight=False)
        raise typer.Exit(EXIT_ERROR) from None
    console.print(escape(f"{out}: {report.summary()}"), highlight=False, soft_wrap=True)
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


def _run_with_progress(
    config: GenerationConfig, backend: Backend, console: Console
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
