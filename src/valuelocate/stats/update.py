"""The arithmetic of one :meth:`~valuelocate.stats.NeuronStats.add` call on an accelerator:
every token added to the open batch's per-row sums, weighted by the mask (:func:`add_rows`),
and counted into a layer's histogram (:func:`hist_update`), with work buffers reused from call
to call (:class:`Workspace`). On the CPU, where reading the mask back is free, the counted
tokens go through a compiled loop instead (:mod:`valuelocate.stats.kernels`, chosen by
:func:`~valuelocate.stats.moments.gathers_tokens`); both give a value ``a`` the histogram bin
``ceil(a / bin_width)`` clipped to ``[0, hist_bins - 1]``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from valuelocate.stats.constants import HIST_DTYPE
from valuelocate.stats.moments import OpenBatch


class Workspace:
    """Work buffers of one accumulator, per device, kept from call to call.

    Args:
        neurons: neurons per layer ``N``.
        hist_bins: histogram bins ``B``.
    """

    def __init__(self, neurons: int, hist_bins: int) -> None:
        self.neurons = neurons
        self.hist_bins = hist_bins
        self._offsets: dict[torch.device, Tensor] = {}  # [neurons] int64: j * bins
        self._ones_buffer: dict[torch.device, Tensor] = {}  # [size] int32 ones

    def offsets(self, device: torch.device) -> Tensor:
        """``[neurons]`` int64 ``j * hist_bins``: where neuron j's bins start."""
        offsets = self._offsets.get(device)
        if offsets is None:
            offsets = torch.arange(self.neurons, device=device) * self.hist_bins
            self._offsets[device] = offsets
        return offsets

    def ones(self, size: int, device: torch.device) -> Tensor:
        """``[size]`` int32 ones, from a buffer kept per device (scatter_add_ is about twice
        as fast with a contiguous source as with an expanded scalar)."""
        ones = self._ones_buffer.get(device)
        if ones is None or ones.shape[0] < size:
            ones = torch.ones(size, dtype=HIST_DTYPE, device=device)
            self._ones_buffer[device] = ones
        return ones[:size]


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
