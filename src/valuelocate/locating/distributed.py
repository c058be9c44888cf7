"""Data-parallel locating: shard a pole's batches over processes, combine their statistics once.

Usage:

1. Launch with ``torchrun --nproc-per-node N -m valuelocate locate ...`` (or ``accelerate
   launch -m valuelocate locate ...``); the launcher sets ``RANK``, ``WORLD_SIZE`` and
   ``LOCAL_RANK``.
2. ``with process_group() as shard:`` joins the group (``gloo`` on the CPU, ``nccl`` on CUDA,
   with a timeout so that a rank that dies cannot hang the others forever) and destroys it on
   exit. Without the launcher's variables (or with ``WORLD_SIZE=1``) it yields a one-process
   :class:`Shard` and touches nothing.
3. ``shard.batch_starts(n_prompts, batch_size)`` gives this rank's batches: batch ``i`` (the
   same batches as a one-process run) belongs to rank ``i % world_size``.
4. After the last batch of a pole, ``shard.combine(stats)`` is the one collective of the pole:
   every rank gets the statistics of all ranks' prompts.

How the statistics combine (the why): the state is packed into ONE float64 vector in additive
form and summed with a single ``all_reduce``: counts ``n``, ``c`` and the histograms as they
are (integers below 2**53 are exact in float64, so counts and histograms equal a one-process
run's exactly), and each mean/M2 pair as the sum ``S = n * mean`` and the sum of squares about
zero ``Q = M2 + n * mean**2``; afterwards ``mean = S / n`` and ``M2 = Q - S**2 / n``. Means and
variances then equal a one-process run's up to summation order: relative differences of about
``1e-15`` for means, and about ``1e-16 * (1 + mean**2 / var)`` for variances (the cancellation
in ``Q - S**2 / n``; with activations of order one that is far below any effect size). An
``all_reduce`` of one buffer keeps memory at one copy of the state per rank, where gathering
every rank's histograms (552 MB each for Llama-3-8B) onto rank 0 would need ``world_size``
copies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor

from valuelocate.stats import NeuronStats

DEFAULT_TIMEOUT = timedelta(minutes=30)

# The mean/M2 pairs of the state and the count they belong to; every other entry of the state
# is an integer count that adds as it is.
_MOMENT_KEYS = (("n", "mean", "m2"), ("prompt_n", "prompt_mean", "prompt_m2"))


@dataclass(frozen=True)
class LaunchInfo:
    """Where this process sits in a launch, read from the launcher's environment.

    Attributes:
        rank: global rank in ``[0, world_size)``.
        world_size: number of processes.
        local_rank: rank on this machine (picks the GPU).
    """

    rank: int
    world_size: int
    local_rank: int


def launch_info(environ: Mapping[str, str] | None = None) -> LaunchInfo | None:
    """The launch this process is part of, or None when it runs alone.

    Args:
        environ: the environment to read (default ``os.environ``).

    Returns:
        A :class:`LaunchInfo` when ``WORLD_SIZE`` > 1, else None.

    Example:
        >>> launch_info({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"})
        LaunchInfo(rank=1, world_size=2, local_rank=1)
    """
    env = os.environ if environ is None else environ
    world = int(env.get("WORLD_SIZE", "1") or "1")
    if world <= 1:
        return None
    if "RANK" not in env:
        raise ValueError("WORLD_SIZE > 1 but RANK is not set: launch with torchrun or accelerate")
    rank = int(env["RANK"])
    local = int(env.get("LOCAL_RANK", str(rank)))
    if not 0 <= rank < world:
        raise ValueError(f"RANK={rank} is outside [0, WORLD_SIZE={world})")
    return LaunchInfo(rank=rank, world_size=world, local_rank=local)


def rank_device(device: str | None, info: LaunchInfo | None) -> str | None:
    """The device a rank loads its model on: ``cuda`` (or ``cuda:K``) becomes
    ``cuda:LOCAL_RANK`` under a launch, so that each rank has its own GPU; others are kept.

    Args:
        device: the ``--device`` option (None: the CPU).
        info: this process's launch, or None.

    Returns:
        The device string to load on.
    """
    if info is None or device is None or not device.startswith("cuda"):
        return device
    return f"cuda:{info.local_rank}"


@dataclass(frozen=True)
class Shard:
    """This process's share of the work: its rank, the world size and the collective device.

    A one-process run is ``Shard()`` (rank 0 of 1); its :meth:`combine` and :meth:`barrier`
    do nothing.

    Attributes:
        rank: global rank.
        world_size: number of processes.
        device: where the collective's buffer lives (``cpu`` for gloo, ``cuda:K`` for nccl).
    """

    rank: int = 0
    world_size: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that writes the artifacts and prints."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def batch_starts(self, n_items: int, batch_size: int, *, start: int = 0) -> list[int]:
        """First item of each of this rank's batches, from batch ``start`` on.

        Args:
            n_items: prompts of the pole.
            batch_size: prompts per batch (the same batches as a one-process run).
            start: index of the first batch to consider (resuming).

        Returns:
            Item indices ``i * batch_size`` of the batches ``i >= start`` with
            ``i % world_size == rank``.
        """
        n_batches = -(-n_items // batch_size)
        return [i * batch_size for i in range(start, n_batches) if i % self.world_size == self.rank]

    def barrier(self) -> None:
        """Wait for every rank (no-op in a one-process run)."""
        if self.is_distributed:
            dist.barrier()

    def combine(self, stats: NeuronStats) -> NeuronStats:
        """The one collective of a pole: the statistics of every rank's prompts, on every rank.

        Args:
            stats: this rank's statistics (closed batch).

        Returns:
            New statistics (CPU) equal to merging every rank's; ``stats`` itself when alone.
        """
        if not self.is_distributed:
            return stats
        buffer, layout = pack_additive(stats.state_dict(), device=torch.device(self.device))
        dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
        return NeuronStats.from_state_dict(
            unpack_additive(buffer.cpu(), layout),
            bin_width=stats.bin_width,
            statistics=stats.statistics,
        )


# ------------------------------------------------------------------ the additive form

Layout = list[tuple[str, torch.Size, torch.dtype]]


def pack_additive(state: Mapping[str, Tensor], *, device: torch.device) -> tuple[Tensor, Layout]:
    """Flatten a :meth:`NeuronStats.state_dict` into one float64 vector whose sum over ranks is
    the state of all ranks together (see the module docstring).

    Args:
        state: ``NeuronStats.state_dict()`` output: integer counts, which add as they are, and
            the ``mean``/``m2`` pairs of ``_MOMENT_KEYS``, which are made additive.
        device: where to build the vector.

    Returns:
        ``(vector [total] float64, layout)``; ``layout`` lists (name, shape, dtype) in order.
    """
    moments = {k for _, mean, m2 in _MOMENT_KEYS for k in (mean, m2)}
    unknown = [k for k, v in state.items() if v.dtype.is_floating_point and k not in moments]
    if unknown:
        raise ValueError(f"Cannot combine state entry {unknown[0]!r}: not a count or a moment")
    additive = dict(state)
    for n_key, mean_key, m2_key in _MOMENT_KEYS:
        n = state[n_key].to(torch.float64)[:, None]  # [layers, 1]
        mean = state[mean_key]
        additive[mean_key] = n * mean  # S
        additive[m2_key] = state[m2_key] + n * mean.square()  # Q
    names = sorted(state)  # the same order on every rank
    layout: Layout = [(k, state[k].shape, state[k].dtype) for k in names]
    vector = torch.cat([additive[k].reshape(-1).to(device, torch.float64) for k in names])
    return vector, layout


def unpack_additive(vector: Tensor, layout: Layout) -> dict[str, Tensor]:
    """Inverse of :func:`pack_additive` after the sum: back to a state dict.

    Args:
        vector: the summed float64 vector (CPU).
        layout: the layout :func:`pack_additive` returned.

    Returns:
        A state dict for :meth:`NeuronStats.from_state_dict`.
    """
    out: dict[str, Tensor] = {}
    offset = 0
    for name, shape, dtype in layout:
        size = shape.numel()
        part = vector[offset : offset + size].reshape(shape)
        offset += size
        out[name] = part.round().to(dtype) if not dtype.is_floating_point else part.clone()
    for n_key, mean_key, m2_key in _MOMENT_KEYS:
        n = out[n_key].to(torch.float64)[:, None]
        total, squares = out[mean_key], out[m2_key]
        mean = torch.where(n > 0, total / n.clamp(min=1.0), 0.0)
        out[mean_key] = mean
        out[m2_key] = (squares - total * mean).clamp(min=0.0)
    return out


# ------------------------------------------------------------------ the process group


@contextmanager
def process_group(
    *,
    device: str | None = None,
    timeout: timedelta = DEFAULT_TIMEOUT,
    environ: Mapping[str, str] | None = None,
) -> Iterator[Shard]:
    """Join the launcher's process group for the ``with`` block; destroy it on exit.

    Args:
        device: the device the model runs on; ``cuda...`` selects ``nccl`` and the rank's
            GPU ``cuda:LOCAL_RANK``, anything else ``gloo`` on the CPU.
        timeout: how long a collective waits for the other ranks before failing (a crashed
            rank then ends the others with an error instead of a hang).
        environ: the environment to read (default ``os.environ``).

    Returns:
        A context manager yielding this process's :class:`Shard` (``Shard()`` when alone).

    Example:
        >>> with process_group() as shard:
        ...     mine = shard.batch_starts(40, 8)
    """
    info = launch_info(environ)
    if info is None:
        yield Shard()
        return
    if dist.is_initialized():  # a launcher or the caller set it up: use it, leave it be
        yield Shard(info.rank, info.world_size, _collective_device(device, info))
        return
    collective = _collective_device(device, info)
    backend = "nccl" if collective.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(torch.device(collective))
    dist.init_process_group(
        backend=backend, rank=info.rank, world_size=info.world_size, timeout=timeout
    )
    try:
        yield Shard(info.rank, info.world_size, collective)
    finally:
        dist.destroy_process_group()


def _collective_device(device: str | None, info: LaunchInfo) -> str:
    mapped = rank_device(device, info)
    if mapped is not None and mapped.startswith("cuda"):
        return mapped
    return "cpu"
