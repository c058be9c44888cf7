"""Running one pole: generate answers while the hooks stream per-neuron statistics, with
checkpoints so an interrupted run resumes where it stopped.

:func:`run_pole` streams one pole's statistics; :func:`run_or_resume` wraps it with the run
directory's files: it reuses a pole's finished statistics, continues its checkpoint, or starts
afresh, and under ``torchrun`` runs this rank's batches and combines the ranks' statistics.
Batches are deterministic and the checkpoint holds the exact float64 state, so a resumed run
ends with the same statistics as an uninterrupted one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from valuelocate.architectures import ArchSpec, ModelShape
from valuelocate.artifacts import ArtifactError, atomic_write
from valuelocate.forward import input_device
from valuelocate.generation import GenerationConfig, generate_ids
from valuelocate.hooks import DecodeChunker, trace_neurons
from valuelocate.locating.distributed import Shard
from valuelocate.locating.jobs import PoleJob
from valuelocate.locating.options import LocateOptions
from valuelocate.models import LoadedModel
from valuelocate.prompting import chat_inputs, stop_token_ids
from valuelocate.stats import NeuronStats


@dataclass
class PoleProgress:
    """Counters a progress display reads after each batch."""

    prompts_done: int = 0
    prompts_total: int = 0
    tokens: int = 0
    seconds: float = 0.0


def run_pole(
    lm: LoadedModel,
    job: PoleJob,
    options: LocateOptions,
    stats: NeuronStats,
    *,
    start: int = 0,
    on_batch: Callable[[NeuronStats, int], None] | None = None,
    batch_starts: Sequence[int] | None = None,
    arch: ArchSpec | None = None,
) -> NeuronStats:
    """Stream the statistics of one pole's prompts from prompt ``start`` on.

    Args:
        lm, job, options: the model, the pole's prompts and the run's options.
        stats: the accumulator to add to (returned).
        start: first prompt (a multiple of the batch size when resuming).
        on_batch: ``on_batch(stats, end)`` runs after each closed batch with the index one past
            the batch's last prompt (checkpointing, progress).
        batch_starts: the first prompt of each batch to run (a rank's share, see
            :meth:`valuelocate.locating.distributed.Shard.batch_starts`); overrides ``start``.
        arch: an architecture override for a family outside the table (see
            :func:`~valuelocate.hooks.trace_neurons`).

    Returns:
        ``stats``.
    """
    model = lm.model
    device = input_device(model)
    stops = stop_token_ids(model, lm.tokenizer)
    pad = lm.tokenizer.pad_token_id
    if batch_starts is None:
        batch_starts = range(start, len(job.texts), options.batch_size)
    for begin in batch_starts:
        texts = list(job.texts[begin : begin + options.batch_size])
        batch = chat_inputs(lm.tokenizer, texts, chat_template=options.chat_template)
        batch = {k: v.to(device) for k, v in batch.items()}
        # Decoding steps reach the statistics in chunks: one update per 32 steps and layer
        # instead of one per step keeps the hooks' overhead small (docs/benchmarks.md).
        chunker = DecodeChunker(stats.add)
        with (
            torch.no_grad(),
            trace_neurons(
                model,
                chunker,
                site=options.site,
                scope=options.scope,
                stop_token_ids=stops,
                arch=arch,
            ),
        ):
            if options.scope == "prompt":
                model(**batch)  # the answer is never counted: no need to generate it
            else:
                config = GenerationConfig(
                    max_new_tokens=options.max_new_tokens,
                    repetition_penalty=options.repetition_penalty,
                )
                generate_ids(model, batch, config=config, pad_token_id=pad)
        chunker.flush()
        stats.end_batch()
        if on_batch is not None:
            on_batch(stats, begin + len(texts))
    return stats


def _stats_path(run_dir: Path, job: PoleJob) -> Path:
    return run_dir / "stats" / f"{job.key}.safetensors"


def _checkpoint_path(run_dir: Path, job: PoleJob, shard: Shard | None = None) -> Path:
    """One file per pole, and per rank under a launch: ``{key}.rank{r}-of{W}.safetensors``."""
    if shard is None or not shard.is_distributed:
        return run_dir / "checkpoints" / f"{job.key}.safetensors"
    name = f"{job.key}.rank{shard.rank}-of{shard.world_size}.safetensors"
    return run_dir / "checkpoints" / name


def _check_checkpoint_world(run_dir: Path, job: PoleJob, shard: Shard) -> None:
    """Refuse checkpoints written by a launch of another size: they hold other shares."""
    ours = {
        _checkpoint_path(run_dir, job, Shard(r, shard.world_size)).name
        for r in range(shard.world_size)
    }
    others = sorted(
        p.name
        for p in (run_dir / "checkpoints").glob(f"{job.key}.*safetensors")
        if p.name not in ours and not p.name.startswith(".")
    )
    if others:
        raise ValueError(
            f"Cannot resume {run_dir} with {shard.world_size} process(es): checkpoint {others[0]} "
            "was written by a launch of another size. Resume with the same number of processes, "
            "or delete the pole's checkpoints to recompute it."
        )


def _save_stats(path: Path, stats: NeuronStats, metadata: Mapping[str, str]) -> None:
    atomic_write(path, lambda tmp: stats.save(tmp, metadata=metadata))


def run_or_resume(
    lm: Any,
    job: PoleJob,
    options: LocateOptions,
    shape: ModelShape,
    run_dir: Path,
    progress: Callable[[PoleJob, PoleProgress], None] | None,
    *,
    shard: Shard | None = None,
    arch: ArchSpec | None = None,
) -> NeuronStats:
    """One pole: reuse its finished statistics, continue its checkpoint, or start afresh.

    Under a launch each rank runs its own batches from its own checkpoint, then the ranks'
    statistics are combined (one collective) and rank 0 writes the pole's file.
    """
    shard = shard or Shard()
    final = _stats_path(run_dir, job)
    checkpoint = _checkpoint_path(run_dir, job, shard)
    for path in (final, checkpoint):  # issue 13: a directory where a file is expected
        if path.is_dir():
            raise ArtifactError(f"{path} is a directory, not a statistics file")
    if final.is_file():
        checkpoint.unlink(missing_ok=True)  # left over if a run ended between the two steps
        return _load_stats(final, shape)
    _check_checkpoint_world(run_dir, job, shard)
    next_batch = 0
    if checkpoint.is_file():
        stats = _load_stats(checkpoint, shape)
        meta = NeuronStats.read_metadata(checkpoint)
        done = int(meta.get("prompts_done", "0"))
        next_batch = int(meta.get("next_batch", str(done // options.batch_size)))
    else:
        stats = NeuronStats(
            shape.num_layers, shape.neurons_per_layer, statistics=options.statistics()
        )
    starts = shard.batch_starts(len(job.texts), options.batch_size, start=next_batch)
    mine = shard.batch_starts(len(job.texts), options.batch_size)
    sizes = {b: min(options.batch_size, len(job.texts) - b) for b in mine}
    already = sum(size for b, size in sizes.items() if b not in starts)
    counters = PoleProgress(prompts_done=already, prompts_total=sum(sizes.values()))
    last_save = time.monotonic()
    began = time.monotonic()
    tokens_before = int(stats.n[0].item()) if next_batch else 0

    def on_batch(current: NeuronStats, end: int) -> None:
        nonlocal last_save
        batch_index = -(-end // options.batch_size) - 1
        counters.prompts_done += sizes[batch_index * options.batch_size]
        counters.tokens = int(current.n[0].item()) - tokens_before
        counters.seconds = time.monotonic() - began
        remaining = counters.prompts_done < counters.prompts_total
        if time.monotonic() - last_save >= options.checkpoint_seconds and remaining:
            meta = {"next_batch": str(batch_index + 1), "job": job.key}
            if not shard.is_distributed:
                meta["prompts_done"] = str(end)
            else:
                meta["rank"] = f"{shard.rank}/{shard.world_size}"
            _save_stats(checkpoint, current, meta)
            last_save = time.monotonic()
        if progress is not None:
            progress(job, counters)

    if progress is not None:
        progress(job, counters)
    if options.contrast != "generated":  # forward passes over finished texts: no checkpoints
        assert isinstance(lm, LoadedModel)
        stats = contrast_stats(lm, job, options, stats)
        counters.prompts_done = counters.prompts_total
        if progress is not None:
            progress(job, counters)
    elif isinstance(lm, LoadedModel):
        run_pole(lm, job, options, stats, on_batch=on_batch, batch_starts=starts, arch=arch)
    else:  # another backend (vLLM) with the same contract
        lm.run_pole(job, options, stats, on_batch=on_batch, batch_starts=starts)
    stats = shard.combine(stats)
    if shard.is_main:
        _save_stats(final, stats, {"prompts_done": str(len(job.texts)), "job": job.key})
    checkpoint.unlink(missing_ok=True)
    return stats


def contrast_stats(
    lm: LoadedModel, job: PoleJob, options: LocateOptions, stats: NeuronStats
) -> NeuronStats:
    """One pole's statistics from a forward-only contrast source (``options.contrast``):
    its value descriptions, or its answers to the search split's forced-choice items."""
    from valuelocate.data import load_descriptions
    from valuelocate.data.forced_choice import load_forced_choice
    from valuelocate.locating.contrast import pair_stats, text_stats

    if options.contrast == "descriptions":
        texts = [d.text for d in load_descriptions(dimension=job.dimension, pole=job.pole)]
        return text_stats(lm, texts, site=options.site, chat_template=options.chat_template,
                          batch_size=options.batch_size, stats=stats)  # fmt: skip
    items = load_forced_choice(dimension=job.dimension, split="search")
    both = pair_stats(lm, items, site=options.site, chat_template=options.chat_template,
                      batch_size=options.batch_size)  # fmt: skip
    return both[job.pole]


def _load_stats(path: Path, shape: ModelShape) -> NeuronStats:
    try:
        stats = NeuronStats.load(path)
    except (ValueError, OSError) as exc:  # OSError: a directory (issue 13)
        raise ArtifactError(f"{path} is corrupt: {exc}. Delete it to recompute that pole.") from exc
    # issue 13: a NaN or inf in the statistics would silently spread into the selection
    bad = [
        k
        for k, t in stats.state_dict().items()
        if t.is_floating_point() and not bool(t.isfinite().all())
    ]
    if bad:
        raise ArtifactError(
            f"{path} holds NaN or inf in {bad[0]!r}. Delete it to recompute that pole."
        )
    if (stats.num_layers, stats.neurons) != (shape.num_layers, shape.neurons_per_layer):
        raise ArtifactError(f"{path} was computed for a model of another shape")
    return stats
