"""The arithmetic of one :meth:`~valuelocate.stats.NeuronStats.add` call: adding tokens to the
open batch's per-row sums and counting them into a layer's histogram, in work buffers that
are reused from call to call (:class:`Workspace`).

Two paths, chosen by :func:`~valuelocate.stats.moments.gathers_tokens`: on the CPU the
counted tokens are gathered first (:func:`add_gathered_rows`, :func:`hist_add_gathered`);
elsewhere every token is added, weighted by the mask (:func:`add_rows`, :func:`hist_update`).
Both give a value ``a`` the histogram bin ``ceil(a / bin_width)`` clipped to
``[0, hist_bins - 1]``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from valuelocate.stats.constants import HIST_DTYPE
from valuelocate.stats.moments import OpenBatch


class Workspace:
    """Work buffers of one accumulator, per device: allocating tens of MB per call costs page
    faults that are a large part of the update on the CPU.

    Args:
        neurons: neurons per layer ``N``.
        hist_bins: histogram bins ``B``.
    """

    def __init__(self, neurons: int, hist_bins: int) -> None:
        self.neurons = neurons
        self.hist_bins = hist_bins
        self._offsets: dict[torch.device, Tensor] = {}  # [neurons] int64: j * bins
        self._ones_buffer: dict[torch.device, Tensor] = {}  # [size] int32 ones
        self._scratch: dict[tuple[torch.device, str], Tensor] = {}  # reused CPU work buffers

    def buffer(self, device: torch.device, name: str, size: int, dtype: torch.dtype) -> Tensor:
        """A reused ``[size]`` work buffer."""
        buf = self._scratch.get((device, name))
        if buf is None or buf.numel() < size or buf.dtype != dtype:
            buf = torch.empty(size, dtype=dtype, device=device)
            self._scratch[(device, name)] = buf
        return buf[:size]

    def offsets(self, device: torch.device) -> Tensor:
        """``[neurons]`` int64 ``j * hist_bins``: where neuron j's bins start."""
        offsets = self._offsets.get(device)
        if offsets is None:
            offsets = torch.arange(self.neurons, device=device) * self.hist_bins
            self._offsets[device] = offsets
        return offsets

    def ones(self, size: int, device: torch.device) -> Tensor:
        """``[size]`` int32 ones, from a buffer kept per device (scatter_add_ is about twice
        as fast on the CPU with a contiguous source as with an expanded scalar)."""
        ones = self._ones_buffer.get(device)
        if ones is None or ones.shape[0] < size:
            ones = torch.ones(size, dtype=HIST_DTYPE, device=device)
            self._ones_buffer[device] = ones
        return ones[:size]


def add_gathered_rows(
    opened: OpenBatch, x: Tensor, rows: Tensor, batch: int, work: Workspace
) -> None:
    """Add gathered tokens ``x`` [tokens, neurons] of batch rows ``rows`` [tokens]."""
    size = x.shape[0] * work.neurons
    centred = work.buffer(x.device, "centred", size, torch.float64).view(x.shape)
    torch.sub(x, opened.shift, out=centred)  # [tokens, neurons] float64
    # A one-hot [batch, tokens] matmul sums each row's tokens: deterministic and much
    # faster on the CPU than index_add_.
    onehot = rows[None, :] == torch.arange(batch, device=x.device)[:, None]
    weights = onehot.to(torch.float64)
    opened.total.add_(weights @ centred)
    if opened.squares is not None:
        opened.squares.add_(weights @ centred.square_())
    opened.count.add_(onehot.sum(1))


def hist_add_gathered(hist: Tensor, x: Tensor, bin_width: float, work: Workspace) -> None:
    """Count gathered tokens ``x`` [tokens, neurons] into the layer histogram ``hist``
    [neurons * bins] (CPU).

    The bins are computed in ``x``'s own token-major layout, in reused buffers, and counted
    by one ``scatter_add_``; the bin of each value is the one :func:`hist_update` gives. (A
    neuron-major layout, which puts one neuron's increments next to each other, was slower
    overall: its transposed read costs more than the scatter's locality saves, 2026-12-04,
    ``benchmarks/bench_hist.py``.)
    """
    size = x.shape[0] * work.neurons
    device = x.device
    y = work.buffer(device, "bins", size, torch.float32).view(x.shape)
    torch.mul(x.to(torch.float32), 1.0 / bin_width, out=y)
    y.ceil_().clamp_(0.0, work.hist_bins - 1).nan_to_num_(0.0)
    flat = work.buffer(device, "flat", size, torch.int64).view(x.shape)
    flat.copy_(y)
    flat.add_(work.offsets(device)[None, :])
    hist.scatter_add_(0, flat.view(-1), work.ones(size, device))


def add_rows(opened: OpenBatch, x: Tensor, keep: Tensor | None, batch: int) -> None:
    """Add all tokens ``x`` [batch * seq, neurons] (row-major), weighted by ``keep``."""
    neurons = x.shape[1]
    centred = x - opened.shift  # [tokens, neurons] float64 by type promotion
    if keep is not None:
        centred = torch.where(keep[:, None], centred, 0.0)  # padding may hold anything
    opened.total.add_(centred.view(batch, -1, neurons).sum(1))
    if opened.squares is not None:
        opened.squares.add_(centred.square_().view(batch, -1, neurons).sum(1))
    if keep is None:
        opened.count.add_(x.shape[0] // batch)
    else:
        opened.count.add_(keep.view(batch, -1).sum(1))


def hist_update(
    x: Tensor, keep: Tensor | None, bin_width: float, work: Workspace
) -> tuple[Tensor, Tensor]:
    """(flat cell index, increment), both [tokens * neurons], for ``scatter_add_`` of all
    tokens ``x`` [tokens, neurons] weighted by ``keep``."""
    bins = work.hist_bins
    offsets = work.offsets(x.device)
    # bin = ceil(a / w) clipped to [0, B-1]: 0 for a <= 0, B-1 for the overflow.
    y = (x.to(torch.float32) * (1.0 / bin_width)).ceil_()
    y.clamp_(0.0, bins - 1).nan_to_num_(0.0)
    flat = y.to(torch.int64).add_(offsets).reshape(-1)  # [tokens * neurons]
    if keep is None:
        inc = work.ones(flat.shape[0], x.device)
    else:
        inc = keep.to(HIST_DTYPE)[:, None].expand(x.shape).reshape(-1)
    return flat, inc
