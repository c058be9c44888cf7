"""``valuelocate locate``: the command line of :mod:`valuelocate.locating`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

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
from valuelocate.cli.common import input_file, output_dir
from valuelocate.cli.options import keyword, options_command, resume_option
from valuelocate.locating import LocateOptions, PoleJob, PoleProgress, locate
from valuelocate.locating.distributed import Shard, launch_info, process_group


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


def _locate(options: LocateOptions, *, out: Path, dist_timeout: float, resume: bool) -> None:
    """Locate value neurons: stream per-neuron statistics for each pole, then select."""
    options.validate()
    check_dataset_files(options)
    # Under torchrun only rank 0 finds the folder as the user left it (it writes the lock and
    # the artifacts); the other ranks check its kind alone.
    info = launch_info()
    alone_or_first = info is None or info.rank == 0
    out = output_dir(out, "--out", resumable=True, resume=resume or not alone_or_first)
    if options.backend == "vllm":
        _require_vllm_or_exit()
    with process_group(device=options.device, timeout=timedelta(seconds=dist_timeout)) as shard:
        _run(options, out, resume=resume, shard=shard)


locate_command = options_command(
    LocateOptions,
    _locate,
    leading=[
        keyword(
            "out",
            Path,
            typer.Option(
                ..., "--out", "-o", help="Run directory for all artifacts.", readable=False
            ),
        )
    ],
    trailing=[
        keyword(
            "dist_timeout",
            float,
            typer.Option(
                1800.0, help="Under torchrun: seconds a rank waits for the others before failing."
            ),
        ),
        keyword("resume", bool, resume_option()),
    ],
)


def check_dataset_files(options: LocateOptions) -> None:
    """``--prompts-file`` and ``--descriptions-file`` are files (their records are checked
    when read)."""
    for flag, name in (("--prompts-file", options.prompts_file),
                       ("--descriptions-file", options.descriptions_file)):  # fmt: skip
        if name is not None:
            input_file(Path(name), flag)


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
