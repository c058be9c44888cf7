"""Locating value neurons: run each pole's prompts, stream statistics, select neurons.

Usage:

1. ``options = LocateOptions(model="default", prompts_per_pole=32, max_new_tokens=32)``.
2. ``result = locate(options, Path("runs/smol"))`` loads the model and the dataset, and for
   each dimension and pole generates answers to the locating prompts while
   :class:`~valuelocate.stats.NeuronStats` streams per-neuron statistics from the hooks.
3. Partial statistics are checkpointed; ``locate(..., resume=True)`` continues an interrupted
   run from its last checkpoint and ends with the same statistics as an uninterrupted run
   (batches are deterministic, and the checkpoint holds the exact float64 state).
   Under ``torchrun`` each rank runs its share of the batches and checkpoints it in its own
   file; the ranks' statistics are combined once per pole (see :mod:`valuelocate.distributed`).
4. The selection method turns the two poles' statistics of each dimension into neuron sets;
   everything lands in the run directory (see :mod:`valuelocate.artifacts`).

Both poles of a dimension answer the same questions, each paired with a description of its
own pole drawn with a seeded generator, so the contrast between poles is the description's
voice and nothing else.
"""

from __future__ import annotations

import hashlib
import random
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from valuelocate.architectures import SITES, ModelShape, Site, model_shape
from valuelocate.artifacts import (
    ArtifactError,
    atomic_write,
    library_versions,
    neuron_sets_summary,
    read_json,
    save_neuron_sets,
    write_json,
)
from valuelocate.data import (
    DIMENSIONS,
    POLES,
    Description,
    SituationalPrompt,
    dataset_hash,
    load_descriptions,
    load_file,
    load_prompts,
)
from valuelocate.distributed import Shard
from valuelocate.hooks import SCOPES, DecodeChunker, Scope, trace_neurons
from valuelocate.models import LoadedModel, load_model
from valuelocate.prompting import LOCATE_TEMPLATE, chat_inputs, locate_text, stop_token_ids
from valuelocate.selection import Selection, get_method
from valuelocate.stats import NeuronStats

MANIFEST_VERSION = 1
BACKENDS = ("transformers", "vllm")


@dataclass(frozen=True)
class LocateOptions:
    """Everything that decides a locating run's numbers (all of it goes into the manifest).

    Attributes:
        model: ``default``, a local folder or a hub id.
        dimensions: which dimensions to locate (default all four).
        prompts_per_pole: search prompts per pole; ``None`` uses the whole search split.
        scope: tokens counted: ``generated`` (the study), ``prompt`` or ``all``.
        site: ``act`` (the neuron, the study's) or ``down_in``.
        max_new_tokens: answer length (the study: 500; shorter is much cheaper on a CPU).
        batch_size: prompts per batch. Part of the result: float sums depend on batching.
        repetition_penalty: as in the study's generation (1.1).
        dtype, device, revision: how the model is loaded.
        device_map: ``auto`` spreads a model too large for one device over all of them
            (accelerate); None keeps it whole on ``device``.
        backend: ``transformers`` or ``vllm`` (the optional extra ``valuelocate[vllm]``;
            ``--scope generated`` only).
        seed: prompt sampling and description pairing.
        chat_template: wrap prompts in the model's chat template when it has one.
        method, method_params: the selection strategy and its parameters.
        prompts_file, descriptions_file: a user's own dataset files (validated) instead of
            the shipped ValueInsight.
        checkpoint_seconds: write partial statistics at most this often.
        all_statistics: keep every statistic of :data:`~valuelocate.stats.STATISTICS`, not
            only the ones the method ``needs`` (recorded in the manifest only when set).
    """

    model: str = "default"
    dimensions: tuple[str, ...] = DIMENSIONS
    prompts_per_pole: int | None = None
    scope: Scope = "generated"
    site: Site = "act"
    max_new_tokens: int = 64
    batch_size: int = 8
    repetition_penalty: float = 1.1
    dtype: str = "float32"
    device: str | None = None
    revision: str | None = None
    device_map: str | None = None
    backend: str = "transformers"
    seed: int = 0
    chat_template: bool = True
    method: str = "delta-p"
    method_params: Mapping[str, Any] = field(default_factory=dict)
    prompts_file: str | None = None
    descriptions_file: str | None = None
    checkpoint_seconds: float = 60.0
    all_statistics: bool = False  # [stats issue 12]

    def validate(self) -> None:
        """Raise ValueError naming the bad option."""
        unknown = [d for d in self.dimensions if d not in DIMENSIONS]
        if unknown:
            raise ValueError(
                f"Unknown dimension {unknown[0]!r}; expected some of: {', '.join(DIMENSIONS)}"
            )
        if not self.dimensions:
            raise ValueError("No dimension to locate")
        if self.scope not in SCOPES:
            raise ValueError(f"Unknown scope {self.scope!r}; expected one of {SCOPES}")
        if self.site not in SITES:
            raise ValueError(f"Unknown site {self.site!r}; expected one of {SITES}")
        if self.prompts_per_pole is not None and self.prompts_per_pole < 1:
            raise ValueError("--prompts-per-pole must be at least 1")
        if self.batch_size < 1 or self.max_new_tokens < 1:
            raise ValueError("--batch-size and --max-new-tokens must be at least 1")
        if self.backend not in BACKENDS:
            raise ValueError(f"Unknown backend {self.backend!r}; expected one of {BACKENDS}")
        if self.backend == "vllm" and (self.scope != "generated" or self.site != "act"):
            raise ValueError("--backend vllm supports --scope generated and --site act only")
        get_method(self.method)(**dict(self.method_params))  # unknown name or parameter

    def manifest_view(self) -> dict[str, Any]:
        """The options as JSON (what must match for a resume)."""
        data = asdict(self)
        data["dimensions"] = list(self.dimensions)
        data["method_params"] = dict(self.method_params)
        if not self.all_statistics:  # [stats issue 12] runs made before the option resume
            del data["all_statistics"]
        return data

    def statistics(self) -> frozenset[str] | None:
        """[stats issue 12] What :class:`NeuronStats` keeps: the method's ``needs``, or
        everything (None) with ``all_statistics``."""
        if self.all_statistics:
            return None
        needs = getattr(get_method(self.method), "needs", None)
        return None if needs is None else frozenset(needs)


@dataclass(frozen=True)
class PoleJob:
    """The locating prompts of one (dimension, pole)."""

    dimension: str
    pole: str
    texts: tuple[str, ...]
    prompt_ids: tuple[str, ...]
    description_ids: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.dimension}.{self.pole}"


@dataclass
class LocateResult:
    """What :func:`locate` produced."""

    run_dir: Path
    shape: ModelShape
    stats: dict[str, NeuronStats]  # "{dimension}.{pole}" -> statistics
    selections: dict[str, Selection]  # dimension -> neuron sets
    summary: dict[str, Any]


# ------------------------------------------------------------------ prompts


def _load_dataset(
    options: LocateOptions,
) -> tuple[list[SituationalPrompt], list[Description], str]:
    """The search prompts and descriptions to use, and a hash identifying them."""
    if options.prompts_file:
        prompts = [r for r in load_file(options.prompts_file, "prompts")]
    else:
        prompts = load_prompts(split="search")
    if options.descriptions_file:
        descriptions = [r for r in load_file(options.descriptions_file, "descriptions")]
    else:
        descriptions = load_descriptions()
    prompts = [p for p in prompts if isinstance(p, SituationalPrompt) and p.split == "search"]
    descriptions = [d for d in descriptions if isinstance(d, Description)]
    if options.prompts_file or options.descriptions_file:
        digest = hashlib.sha256()
        for path in (options.prompts_file, options.descriptions_file):
            if path:
                digest.update(Path(path).read_bytes())
        data_hash = "custom:" + digest.hexdigest()
    else:
        data_hash = dataset_hash()
    return prompts, descriptions, data_hash


def build_jobs(
    options: LocateOptions,
    prompts: Sequence[SituationalPrompt],
    descriptions: Sequence[Description],
) -> list[PoleJob]:
    """Pair each dimension's search prompts with seeded descriptions of each pole.

    Raises:
        ValueError: a dimension has no search prompt, or a pole has no description.
    """
    jobs = []
    for dimension in options.dimensions:
        questions = sorted((p for p in prompts if p.dimension == dimension), key=lambda p: p.id)
        if not questions:
            raise ValueError(f"No search prompt for dimension {dimension!r} in the dataset")
        random.Random(f"{options.seed}:{dimension}:prompts").shuffle(questions)
        if options.prompts_per_pole is not None:
            questions = questions[: options.prompts_per_pole]
        for pole in POLES:
            pool = sorted(
                (d for d in descriptions if d.dimension == dimension and d.pole == pole),
                key=lambda d: d.id,
            )
            if not pool:
                raise ValueError(
                    f"Pole {pole!r} of dimension {dimension!r} is empty: the dataset has no "
                    "description for it"
                )
            rng = random.Random(f"{options.seed}:{dimension}:{pole}:descriptions")
            chosen = [rng.choice(pool) for _ in questions]
            jobs.append(
                PoleJob(
                    dimension=dimension,
                    pole=pole,
                    texts=tuple(
                        locate_text(d.text, q.text) for d, q in zip(chosen, questions, strict=True)
                    ),
                    prompt_ids=tuple(q.id for q in questions),
                    description_ids=tuple(d.id for d in chosen),
                )
            )
    return jobs


# ------------------------------------------------------------------ running one pole


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
) -> NeuronStats:
    """Stream the statistics of one pole's prompts from prompt ``start`` on.

    Args:
        lm, job, options: the model, the pole's prompts and the run's options.
        stats: the accumulator to add to (returned).
        start: first prompt (a multiple of the batch size when resuming).
        on_batch: ``on_batch(stats, end)`` runs after each closed batch with the index one past
            the batch's last prompt (checkpointing, progress).
        batch_starts: the first prompt of each batch to run (a rank's share, see
            :meth:`valuelocate.distributed.Shard.batch_starts`); overrides ``start``.

    Returns:
        ``stats``.
    """
    model = lm.model
    device = _input_device(model)
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
                model, chunker, site=options.site, scope=options.scope, stop_token_ids=stops
            ),
        ):
            if options.scope == "prompt":
                model(**batch)  # the answer is never counted: no need to generate it
            else:
                model.generate(
                    **batch,
                    max_new_tokens=options.max_new_tokens,
                    do_sample=False,
                    repetition_penalty=options.repetition_penalty,
                    pad_token_id=pad,
                )
        chunker.flush()
        stats.end_batch()
        if on_batch is not None:
            on_batch(stats, begin + len(texts))
    return stats


def _input_device(model: torch.nn.Module) -> torch.device:
    """Where the inputs go: the input embeddings' device (the first device of a model
    dispatched with ``device_map``), else the first parameter's."""
    get_embeddings = getattr(model, "get_input_embeddings", None)
    embeddings = get_embeddings() if callable(get_embeddings) else None
    weight = getattr(embeddings, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.device.type != "meta":
        return weight.device
    return next(model.parameters()).device


# ------------------------------------------------------------------ the run


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


def _manifest(
    options: LocateOptions, lm: Any, shape: ModelShape, data_hash: str, jobs: list[PoleJob]
) -> dict[str, Any]:
    return {
        "version": MANIFEST_VERSION,
        "kind": "locate",
        "status": "running",
        "model": {
            "id": options.model,
            "source": lm.source,
            "revision": lm.revision,
            "config_hash": lm.config_hash,
            "family": shape.family,
            "num_layers": shape.num_layers,
            "neurons_per_layer": shape.neurons_per_layer,
        },
        "dataset": {
            "hash": data_hash,
            "prompts": {job.key: list(job.prompt_ids) for job in jobs},
            "descriptions": {job.key: list(job.description_ids) for job in jobs},
        },
        "template": LOCATE_TEMPLATE,
        "chat_template": bool(options.chat_template and lm.tokenizer.chat_template),
        "options": options.manifest_view(),
        "seed": options.seed,
        "versions": library_versions(),
        "command": shlex.join(sys.argv),
    }


def _check_resumable(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Refuse to resume a run made with other options, model or data."""
    old = read_json(run_dir / "manifest.json")
    for key in ("options", "dataset"):
        if old.get(key) != manifest[key]:
            raise ValueError(
                f"Cannot resume {run_dir}: its {key} differ from this command's. Use the same "
                "options as the interrupted run, or a new --out directory."
            )
    if old.get("model", {}).get("config_hash") != manifest["model"]["config_hash"]:
        raise ValueError(f"Cannot resume {run_dir}: it was started with a different model")


def locate(
    options: LocateOptions,
    run_dir: str | Path,
    *,
    resume: bool = False,
    lm: LoadedModel | None = None,
    progress: Callable[[PoleJob, PoleProgress], None] | None = None,
    shard: Shard | None = None,
) -> LocateResult:
    """Locate value neurons and write the run's artifacts.

    Args:
        options: what to run (see :class:`LocateOptions`).
        run_dir: the output directory. It must be new or empty unless ``resume``.
        resume: continue the interrupted run in ``run_dir`` (same options required).
        lm: an already loaded model (else ``options.model`` is loaded).
        progress: called after each batch with the job and its counters.
        shard: this process's share under ``torchrun`` (from
            :func:`valuelocate.distributed.process_group`); None runs everything here. Every
            rank returns the combined result; only rank 0 writes the shared artifacts.

    Returns:
        A :class:`LocateResult` with the statistics, the neuron sets and the summary.

    Example:
        >>> result = locate(LocateOptions(prompts_per_pole=8, max_new_tokens=16), "runs/x")
        >>> result.summary["dimensions"]["conservation"]["affirm"]["percent"]
    """
    options.validate()
    run_dir = Path(run_dir)
    manifest_path = run_dir / "manifest.json"
    if not resume and run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(
            f"{run_dir} already holds files; pass --resume to continue that run, or choose "
            "a new --out directory (nothing was overwritten)."
        )
    if resume and not manifest_path.is_file():
        raise ValueError(f"Cannot resume: {manifest_path} does not exist")
    shard = shard or Shard()
    prompts, descriptions, data_hash = _load_dataset(options)
    jobs = build_jobs(options, prompts, descriptions)
    if lm is None:
        lm = _load_for(options, shard)
    shape = _shape_of(lm)
    manifest = _manifest(options, lm, shape, data_hash, jobs)
    manifest["world_size"] = shard.world_size
    if resume:
        _check_resumable(run_dir, manifest)
    # Every rank has checked the directory before any rank writes into it.
    shard.barrier()
    if shard.is_main:
        write_json(manifest_path, manifest)

    all_stats: dict[str, NeuronStats] = {}
    for job in jobs:
        all_stats[job.key] = _run_or_resume(lm, job, options, shape, run_dir, progress, shard=shard)

    selections: dict[str, Selection] = {}
    method = get_method(options.method)(**dict(options.method_params))
    for dimension in options.dimensions:
        affirm = all_stats[f"{dimension}.affirm"]
        oppose = all_stats[f"{dimension}.oppose"]
        selections[dimension] = method(affirm, oppose)
    summary = summarize(selections, shape)
    if shard.is_main:
        _write_results(run_dir, selections, shape, summary, manifest, lm, options)
    shard.barrier()  # the other ranks end when the artifacts are written
    return LocateResult(run_dir, shape, all_stats, selections, summary)


def _load_for(options: LocateOptions, shard: Shard) -> Any:
    """Load ``options.model`` on this rank's device (``cuda:LOCAL_RANK`` under a launch)."""
    device = options.device
    if shard.is_distributed and device is not None and device.startswith("cuda"):
        device = shard.device
    if options.backend == "vllm":
        from valuelocate.vllm_backend import VLLMLocator

        return VLLMLocator.load(options, device=device)
    return load_model(
        options.model,
        dtype=options.dtype,
        device=device,
        device_map=options.device_map,
        revision=options.revision,
    )


def _shape_of(lm: Any) -> ModelShape:
    return lm.shape if hasattr(lm, "shape") else model_shape(lm.model)


def _write_results(
    run_dir: Path,
    selections: dict[str, Selection],
    shape: ModelShape,
    summary: dict[str, Any],
    manifest: dict[str, Any],
    lm: Any,
    options: LocateOptions,
) -> None:
    """Write the neuron sets, the summary, and mark the manifest complete."""
    save_neuron_sets(
        run_dir / "neurons.safetensors",
        selections,
        shape,
        metadata={"config_hash": lm.config_hash, "model": options.model, "site": options.site},
    )
    write_json(run_dir / "neurons.json", neuron_sets_summary(selections))
    write_json(run_dir / "summary.json", summary)
    manifest["status"] = "complete"
    write_json(run_dir / "manifest.json", manifest)


def _run_or_resume(
    lm: Any,
    job: PoleJob,
    options: LocateOptions,
    shape: ModelShape,
    run_dir: Path,
    progress: Callable[[PoleJob, PoleProgress], None] | None,
    *,
    shard: Shard | None = None,
) -> NeuronStats:
    """One pole: reuse its finished statistics, continue its checkpoint, or start afresh.

    Under a launch each rank runs its own batches from its own checkpoint, then the ranks'
    statistics are combined (one collective) and rank 0 writes the pole's file.
    """
    shard = shard or Shard()
    final = _stats_path(run_dir, job)
    checkpoint = _checkpoint_path(run_dir, job, shard)
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
        )  # [stats issue 12] statistics=
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
    if isinstance(lm, LoadedModel):
        run_pole(lm, job, options, stats, on_batch=on_batch, batch_starts=starts)
    else:  # another backend (vLLM) with the same contract
        lm.run_pole(job, options, stats, on_batch=on_batch, batch_starts=starts)
    stats = shard.combine(stats)
    if shard.is_main:
        _save_stats(final, stats, {"prompts_done": str(len(job.texts)), "job": job.key})
    checkpoint.unlink(missing_ok=True)
    return stats


def _load_stats(path: Path, shape: ModelShape) -> NeuronStats:
    try:
        stats = NeuronStats.load(path)
    except ValueError as exc:
        raise ArtifactError(f"{path} is corrupt: {exc}. Delete it to recompute that pole.") from exc
    if (stats.num_layers, stats.neurons) != (shape.num_layers, shape.neurons_per_layer):
        raise ArtifactError(f"{path} was computed for a model of another shape")
    return stats


# ------------------------------------------------------------------ summary


def summarize(selections: Mapping[str, Selection], shape: ModelShape) -> dict[str, Any]:
    """Sparsity per dimension and pole, the layer profile, and Jaccard overlaps.

    Returns:
        ``{"total_neurons", "num_layers", "dimensions": {dim: {pole: {count, percent,
        per_layer}}}, "overlap": {"affirm": {dim: {dim: jaccard}}, "oppose": ...,
        "all": {"dim.pole": {"dim.pole": jaccard}}}}``.
    """
    total = shape.total_neurons
    dims: dict[str, Any] = {}
    flat: dict[str, set[int]] = {}
    for dimension, selection in selections.items():
        dims[dimension] = {}
        for neuron_set in selection:
            counts = neuron_set.counts_per_layer().tolist()
            dims[dimension][neuron_set.pole] = {
                "count": len(neuron_set),
                "percent": 100.0 * len(neuron_set) / total,
                "per_layer": counts,
            }
            flat[f"{dimension}.{neuron_set.pole}"] = set(neuron_set.flat_index.tolist())

    def jaccard(a: set[int], b: set[int]) -> float:
        union = len(a | b)
        return len(a & b) / union if union else 0.0

    overlap: dict[str, Any] = {
        "all": {k: {k2: jaccard(v, v2) for k2, v2 in flat.items()} for k, v in flat.items()}
    }
    for pole in POLES:
        overlap[pole] = {
            d: {d2: jaccard(flat[f"{d}.{pole}"], flat[f"{d2}.{pole}"]) for d2 in selections}
            for d in selections
        }
    return {
        "total_neurons": total,
        "num_layers": shape.num_layers,
        "neurons_per_layer": shape.neurons_per_layer,
        "dimensions": dims,
        "overlap": overlap,
    }
