"""``valuelocate locate``: the command line of :mod:`valuelocate.locating`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from valuelocate.artifacts import RunSummary
from valuelocate.data import DIMENSIONS
from valuelocate.locating import BACKENDS, LocateOptions, PoleJob, PoleProgress, locate
from valuelocate.locating.distributed import Shard, process_group
from valuelocate.selection import SELECTION_METHODS


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["threshold=0.1", "min_required=2000"]`` -> ``{"threshold": 0.1, "min_required": 2000}``.

    Values are read as JSON when they parse (numbers, true/false, null), else kept as text.
    """
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param takes KEY=VALUE, got {item!r}")
        try:
            params[key.strip().replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            params[key.strip().replace("-", "_")] = raw
    return params


def _dimensions(value: str) -> tuple[str, ...]:
    if value.strip() in ("all", ""):
        return DIMENSIONS
    return tuple(d.strip() for d in value.split(",") if d.strip())


def print_summary(summary: RunSummary, console: Console) -> None:
    """Sparsity per dimension and pole, the layer profile, and the affirm-set overlaps."""
    table = Table(title=f"Selected neurons (of {summary.total_neurons:,})")
    table.add_column("dimension")
    table.add_column("pole")
    table.add_column("count", justify="right")
    table.add_column("%", justify="right")
    table.add_column("lower / upper half of layers", justify="right")
    half = summary.num_layers // 2
    for dimension, poles in summary.dimensions.items():
        for pole, info in poles.items():
            lower = sum(info.per_layer[:half])
            upper = sum(info.per_layer[half:])
            table.add_row(
                dimension, pole, str(info.count), f"{info.percent:.2f}", f"{lower} / {upper}"
            )
    console.print(table)
    profile = Table(title="Layer profile (selected neurons per layer, both poles)")
    profile.add_column("dimension")
    profile.add_column("per layer, layer 0 first")
    for dimension, poles in summary.dimensions.items():
        counts = [a + o for a, o in zip(*(p.per_layer for p in poles.values()), strict=True)]
        profile.add_row(dimension, " ".join(str(c) for c in counts))
    console.print(profile)
    dims = list(summary.dimensions)
    if len(dims) > 1:
        for pole in ("affirm", "oppose"):
            overlap = Table(title=f"Overlap (Jaccard) of the {pole} sets")
            overlap.add_column("")
            for d in dims:
                overlap.add_column(d[:12], justify="right")
            for d in dims:
                overlap.add_row(d, *(f"{summary.overlap[pole][d][d2]:.3f}" for d2 in dims))
            console.print(overlap)


def locate_command(
    model: str = typer.Option(
        "default", "--model", "-m", help="'default' (embedded SmolLM2), a local folder or a hub id."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory for all artifacts."),
    dimensions: str = typer.Option(
        "all",
        help="Comma-separated dimension ids, or 'all': " + ", ".join(DIMENSIONS) + ".",
    ),
    prompts_per_pole: int | None = typer.Option(
        None, min=1, help="Search prompts per pole (default: the whole search split)."
    ),
    scope: str = typer.Option(
        "generated", help="Tokens counted: generated (the study), prompt, or all."
    ),
    site: str = typer.Option(
        "act", help="Neuron site: act (activation output, the study) or down_in."
    ),
    max_new_tokens: int = typer.Option(64, min=1, help="Answer length, greedy (study: 500)."),
    batch_size: int = typer.Option(8, min=1, help="Prompts per batch."),
    repetition_penalty: float = typer.Option(1.1, help="Generation repetition penalty."),
    dtype: str = typer.Option("float32", help="float32, bfloat16, float16 or auto."),
    device: str | None = typer.Option(
        None, help="cpu, cuda, cuda:1 ... (default: cpu). Under torchrun, cuda is cuda:LOCAL_RANK."
    ),
    device_map: str | None = typer.Option(
        None,
        help="'auto' spreads a model too large for one device over all devices (accelerate).",
    ),
    backend: str = typer.Option(
        "transformers",
        help=(
            "Backend: " + ", ".join(BACKENDS) + " (vllm: pip install 'valuelocate[vllm]', "
            "--scope generated only)."
        ),
    ),
    dist_timeout: float = typer.Option(
        1800.0, help="Under torchrun: seconds a rank waits for the others before failing."
    ),
    revision: str | None = typer.Option(None, help="Hub revision of --model."),
    seed: int = typer.Option(0, help="Seed of prompt sampling and description pairing."),
    chat_template: bool = typer.Option(
        True, "--chat-template/--no-chat-template", help="Use the model's chat template."
    ),
    method: str = typer.Option(
        "delta-p", help="Selection method: " + ", ".join(SELECTION_METHODS) + "."
    ),
    param: list[str] = typer.Option(
        [],
        "--param",
        help=(
            "Selection parameter KEY=VALUE, repeatable. delta-p: min_required (count, or "
            "fraction of all neurons, default 0.005), threshold (0.1). cohens-d: q (0.01), "
            "min_effect (0). lape: quantile (0.01), min_p. mean-diff: top_k (0.01)."
        ),
    ),
    prompts_file: Path | None = typer.Option(
        None, help="Your own situational prompts (JSONL, validated) instead of ValueInsight."
    ),
    descriptions_file: Path | None = typer.Option(
        None, help="Your own value descriptions (JSONL, validated) instead of ValueInsight."
    ),
    checkpoint_seconds: float = typer.Option(
        60.0, help="Write partial statistics at most this often (for --resume)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out."),
    contrast: str = typer.Option(
        "generated",
        help="Where the poles' activations come from: generated (the study: answers written "
        "with the pole's description in context), descriptions (the descriptions themselves, "
        "no generation: seconds on a CPU) or pairs (the forced-choice search items' answers).",
    ),
    all_statistics: bool = typer.Option(
        False,
        "--all-statistics",
        help="Keep every statistic (also the token variance), not only what --method reads.",
    ),
) -> None:
    """Locate value neurons: stream per-neuron statistics for each pole, then select."""
    options = LocateOptions(
        model=model,
        dimensions=_dimensions(dimensions),
        prompts_per_pole=prompts_per_pole,
        scope=scope,  # type: ignore[arg-type]
        site=site,  # type: ignore[arg-type]
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        repetition_penalty=repetition_penalty,
        dtype=dtype,
        device=device,
        revision=revision,
        device_map=device_map,
        backend=backend,
        seed=seed,
        chat_template=chat_template,
        method=method,
        method_params=parse_params(param),
        prompts_file=str(prompts_file) if prompts_file else None,
        descriptions_file=str(descriptions_file) if descriptions_file else None,
        checkpoint_seconds=checkpoint_seconds,
        all_statistics=all_statistics,
        contrast=contrast,
    )
    options.validate()
    if backend == "vllm":
        _require_vllm_or_exit()
    with process_group(device=device, timeout=timedelta(seconds=dist_timeout)) as shard:
        _run(options, out, resume=resume, shard=shard)


def _require_vllm_or_exit() -> None:
    """Stop with the install hint, printed without markup (``[vllm]`` is not a style tag)."""
    from valuelocate.locating.vllm_backend import VLLMUnavailableError, require_vllm

    try:
        require_vllm()
    except VLLMUnavailableError as exc:
        Console(stderr=True).print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc


def _run(options: LocateOptions, out: Path, *, resume: bool, shard: Shard) -> None:
    """Run on this rank; only rank 0 shows progress and prints the summary."""
    if not shard.is_main:
        locate(options, out, resume=resume, shard=shard)
        return
    console = Console()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("prompts  {task.fields[rate]} tok/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    tasks: dict[str, TaskID] = {}
    with Progress(*columns, console=console) as bar:

        def on_progress(job: PoleJob, counters: PoleProgress) -> None:
            if job.key not in tasks:
                tasks[job.key] = bar.add_task(
                    job.key, total=counters.prompts_total, completed=counters.prompts_done, rate="-"
                )
            rate = counters.tokens / counters.seconds if counters.seconds > 0 else 0.0
            bar.update(tasks[job.key], completed=counters.prompts_done, rate=f"{rate:.0f}")

        result = locate(options, out, resume=resume, progress=on_progress, shard=shard)
    print_summary(result.summary, console)
    if shard.is_distributed:
        console.print(f"{shard.world_size} processes; statistics combined across ranks")
    console.print(f"Artifacts in [bold]{result.run_dir}[/]")
