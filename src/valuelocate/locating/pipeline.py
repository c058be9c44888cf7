"""Locating value neurons: run each pole's prompts, stream statistics, select neurons.

Usage:

1. ``options = LocateOptions(model="default", prompts_per_pole=32, max_new_tokens=32)``.
2. ``result = locate(options, Path("runs/smol"))`` loads the model and the dataset, and for
   each dimension and pole generates answers to the locating prompts while
   :class:`~valuelocate.stats.NeuronStats` streams per-neuron statistics from the hooks
   (:mod:`~valuelocate.locating.jobs`, :mod:`~valuelocate.locating.run`).
3. Partial statistics are checkpointed; ``locate(..., resume=True)`` continues an interrupted
   run from its last checkpoint and ends with the same statistics as an uninterrupted run.
   Under ``torchrun`` each rank runs its share of the batches and checkpoints it in its own
   file; the ranks' statistics are combined once per pole (see
   :mod:`valuelocate.locating.distributed`).
4. The selection method turns the two poles' statistics of each dimension into neuron sets;
   everything lands in the run directory (see :mod:`valuelocate.artifacts`).
5. With ``options.ladder`` (the default) the sparsity ladders follow: each dimension's band
   neurons ranked by the forced-choice pairs' paired effect size
   (:mod:`valuelocate.locating.ladder`), written into the same ``neurons.safetensors``. A
   resume reads back a ladder already built for the same band, points and items.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valuelocate.architectures import ArchSpec, ModelShape, model_shape
from valuelocate.artifacts import (
    DatasetRecord,
    ModelRecord,
    RunManifest,
    RunSummary,
    library_versions,
    neuron_sets_summary,
    save_ladders,
    save_neuron_sets,
    write_json,
)
from valuelocate.artifacts.lock import LOCK_NAME, RunLock
from valuelocate.locating.distributed import Shard
from valuelocate.locating.jobs import PoleJob, build_jobs, load_dataset
from valuelocate.locating.ladder import Ladder, ladders_of_run
from valuelocate.locating.options import LADDER_OPTIONS, LocateOptions
from valuelocate.locating.run import PoleProgress, run_or_resume
from valuelocate.locating.summary import summarize
from valuelocate.models import LoadedModel, load_model
from valuelocate.prompting import LOCATE_TEMPLATE
from valuelocate.selection import Selection, get_method
from valuelocate.stats import NeuronStats
from valuelocate.vocab import POLES


@dataclass
class LocateResult:
    """What :func:`locate` produced."""

    run_dir: Path
    shape: ModelShape
    stats: dict[str, NeuronStats]  # "{dimension}.{pole}" -> statistics
    selections: dict[str, Selection]  # dimension -> neuron sets
    summary: RunSummary


def _manifest(
    options: LocateOptions,
    lm: Any,
    shape: ModelShape,
    data_hash: str,
    jobs: list[PoleJob],
    *,
    world_size: int,
    arch: ArchSpec | None,
) -> RunManifest:
    return RunManifest(
        model=ModelRecord(
            id=options.model,
            source=lm.source,
            revision=lm.revision,
            config_hash=lm.config_hash,
            family=shape.family,
            num_layers=shape.num_layers,
            neurons_per_layer=shape.neurons_per_layer,
        ),
        dataset=DatasetRecord(
            hash=data_hash,
            prompts={job.key: list(job.prompt_ids) for job in jobs},
            descriptions={job.key: list(job.description_ids) for job in jobs},
        ),
        template=LOCATE_TEMPLATE,
        chat_template=bool(options.chat_template and lm.tokenizer.chat_template),
        options=options.manifest_view(),
        seed=options.seed,
        versions=library_versions(),
        command=shlex.join(sys.argv),
        world_size=world_size,
        arch=None if arch is None else dataclasses.asdict(arch),
    )


def _check_resumable(run_dir: Path, manifest: RunManifest) -> None:
    """Refuse to resume a run made with other options, model, data or architecture override."""
    old = RunManifest.read(run_dir / "manifest.json")
    for key in ("options", "dataset", "arch"):
        before, now = getattr(old, key), getattr(manifest, key)
        if key == "options":  # the ladder's options decide the ladder alone: it is recomputed
            before, now = ({k: v for k, v in o.items() if k not in LADDER_OPTIONS}
                           for o in (before, now))  # fmt: skip
        if before != now:
            raise ValueError(
                f"Cannot resume {run_dir}: its {key} differ from this command's. Use the same "
                "options as the interrupted run, or a new --out directory."
            )
    same_geometry = (old.model.num_layers, old.model.neurons_per_layer) == (
        manifest.model.num_layers,
        manifest.model.neurons_per_layer,
    )
    if old.model.config_hash != manifest.model.config_hash or not same_geometry:
        raise ValueError(
            f"Cannot resume {run_dir}: its manifest.json records a different model "
            "(config hash or geometry)"
        )


def locate(
    options: LocateOptions,
    run_dir: str | Path,
    *,
    resume: bool = False,
    lm: LoadedModel | None = None,
    progress: Callable[[PoleJob, PoleProgress], None] | None = None,
    shard: Shard | None = None,
    arch: ArchSpec | None = None,
    keep_stats: bool = True,
) -> LocateResult:
    """Locate value neurons and write the run's artifacts.

    Args:
        options: what to run (see :class:`LocateOptions`).
        run_dir: the output directory. It must be new or empty unless ``resume``.
        resume: continue the interrupted run in ``run_dir`` (same options required).
        lm: an already loaded model (else ``options.model`` is loaded).
        progress: called after each batch with the job and its counters.
        shard: this process's share under ``torchrun`` (from
            :func:`valuelocate.locating.distributed.process_group`); None runs everything here.
            Every rank returns the combined result; only rank 0 writes the shared artifacts.
        arch: where the model keeps its MLP neurons, for a family outside
            :data:`~valuelocate.architectures.ARCHITECTURES` (recorded in the manifest);
            None looks the family up in the table. The transformers backend only.
        keep_stats: return every pole's statistics in the result; with False each
            dimension's are dropped once its neurons are selected (they are on disk in
            ``RUN_DIR/stats/``), and ``stats`` is empty: the main job's way, since eight
            poles' histograms hold about 445 MB on SmolLM2.

    Returns:
        A :class:`LocateResult` with the statistics, the neuron sets and the summary.

    Example:
        >>> result = locate(LocateOptions(prompts_per_pole=8, max_new_tokens=16), "runs/x")
        >>> result.summary.dimensions["conservation"]["affirm"].percent
    """
    options.validate()
    if arch is not None and options.backend != "transformers":
        raise ValueError("An arch= override needs the transformers backend")
    run_dir = Path(run_dir)
    shard = shard or Shard()
    # --- run lock and resume of a run that never started (issue 13) ---
    # Rank 0 holds RUN_DIR/.lock for the whole run: a second process is refused, a dead one's
    # lock is taken over. A run killed before its manifest was written resumes by starting.
    lock: contextlib.AbstractContextManager[Any] = (
        RunLock(run_dir) if shard.is_main else contextlib.nullcontext()
    )
    created = not run_dir.exists()
    try:
        with lock:
            return _resume_or_start(options, run_dir, resume, lm, progress, shard, arch, keep_stats)
    except BaseException:
        if created and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()  # a run refused before it wrote anything leaves no empty folder
        raise


def _resume_or_start(
    options: LocateOptions,
    run_dir: Path,
    resume: bool,
    lm: LoadedModel | None,
    progress: Callable[[PoleJob, PoleProgress], None] | None,
    shard: Shard,
    arch: ArchSpec | None,
    keep_stats: bool,
) -> LocateResult:
    """Resume ``run_dir``, or start it when it was killed before its manifest was written."""
    if resume and not (run_dir / "manifest.json").is_file():
        if _holds_files(run_dir):
            raise ValueError(
                f"Cannot resume {run_dir}: it holds files but no manifest.json, so it is "
                "not a locate run (nothing was changed)"
            )
        resume = False
    if resume and shard.is_main:
        # A process killed inside an atomic write leaves its temporary file; under the lock
        # no live process owns one, so they go.
        for folder in (run_dir, run_dir / "stats", run_dir / "checkpoints", run_dir / "contrast"):
            for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
                tmp.unlink(missing_ok=True)
    return _locate(options, run_dir, resume, lm, progress, shard, arch, keep_stats)


def _holds_files(run_dir: Path) -> bool:
    """Whether the directory holds anything besides the run lock."""
    return run_dir.is_dir() and any(p.name != LOCK_NAME for p in run_dir.iterdir())


def _locate(
    options: LocateOptions,
    run_dir: Path,
    resume: bool,
    lm: LoadedModel | None,
    progress: Callable[[PoleJob, PoleProgress], None] | None,
    shard: Shard,
    arch: ArchSpec | None,
    keep_stats: bool,
) -> LocateResult:
    """The body of :func:`locate`, run under the lock."""
    # --- end of the issue 13 change ---
    manifest_path = run_dir / "manifest.json"
    if not resume and _holds_files(run_dir):
        raise ValueError(
            f"{run_dir} already holds files; pass --resume to continue that run, or choose "
            "a new --out directory (nothing was overwritten)."
        )
    prompts, descriptions, data_hash = load_dataset(options)
    jobs = build_jobs(options, prompts, descriptions)
    if lm is None:
        lm = _load_for(options, shard)
    shape = _shape_of(lm, arch)
    manifest = _manifest(
        options, lm, shape, data_hash, jobs, world_size=shard.world_size, arch=arch
    )
    if resume:
        _check_resumable(run_dir, manifest)
    # Every rank has checked the directory before any rank writes into it.
    shard.barrier()
    if shard.is_main and not resume:  # a resume keeps the checked manifest until it ends
        manifest.write(manifest_path)

    all_stats: dict[str, NeuronStats] = {}
    chosen: dict[str, Selection] = {}
    method = get_method(options.method)(**dict(options.method_params))
    for job in jobs:
        all_stats[job.key] = run_or_resume(
            lm, job, options, shape, run_dir, progress, shard=shard, arch=arch
        )
        poles = [f"{job.dimension}.{pole}" for pole in POLES]
        if all(key in all_stats for key in poles):  # the dimension's second pole is done
            chosen[job.dimension] = method(*(all_stats[key] for key in poles))
            if not keep_stats:
                for key in poles:
                    del all_stats[key]
    selections = {dimension: chosen[dimension] for dimension in options.dimensions}
    summary = summarize(selections, shape)
    if shard.is_main:
        ladders = None
        if options.ladder and isinstance(lm, LoadedModel):  # another backend has no hooks
            ladders = ladders_of_run(
                lm,
                run_dir,
                options.dimensions,
                fractions=options.ladder_fractions,
                chat_template=options.chat_template,
                reuse=resume,
                arch=arch,
            )
        _write_results(run_dir, selections, shape, summary, manifest, lm, options, ladders)
    shard.barrier()  # the other ranks end when the artifacts are written
    return LocateResult(run_dir, shape, all_stats, selections, summary)


def _load_for(options: LocateOptions, shard: Shard) -> Any:
    """Load ``options.model`` on this rank's device (``cuda:LOCAL_RANK`` under a launch)."""
    device = options.device
    if shard.is_distributed and device is not None and device.startswith("cuda"):
        device = shard.device
    if options.backend == "vllm":
        from valuelocate.locating.vllm_backend import VLLMLocator

        return VLLMLocator.load(options, device=device)
    return load_model(
        options.model,
        dtype=options.dtype,
        device=device,
        device_map=options.device_map,
        revision=options.revision,
    )


def _shape_of(lm: Any, arch: ArchSpec | None) -> ModelShape:
    """The geometry of a loaded model, or the one another backend (vLLM) reports."""
    return lm.shape if hasattr(lm, "shape") else model_shape(lm.model, arch)


def _write_results(
    run_dir: Path,
    selections: dict[str, Selection],
    shape: ModelShape,
    summary: RunSummary,
    manifest: RunManifest,
    lm: Any,
    options: LocateOptions,
    ladders: dict[str, Ladder] | None,
) -> None:
    """Write the neuron sets and the ladders, the summary, and mark the manifest complete."""
    save_neuron_sets(
        run_dir / "neurons.safetensors",
        selections,
        shape,
        metadata={"config_hash": lm.config_hash, "model": options.model, "site": options.site},
    )
    write_json(run_dir / "neurons.json", neuron_sets_summary(selections))
    if ladders is not None:
        save_ladders(run_dir, ladders)
    summary.write(run_dir / "summary.json")
    manifest.status = "complete"
    manifest.write(run_dir / "manifest.json")
