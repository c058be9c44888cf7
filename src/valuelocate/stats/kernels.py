"""The statistics' CPU update as one compiled loop (numba): each counted token's values added to
its row's float64 sums and counted into the layer's histogram, in one read of the values.

Why compiled: in torch the same update is about ten passes over the values (the counted tokens
gathered, a float64 copy, a one-hot matrix product, the bins' multiply, ceil, clamp, NaN check,
int64 copy and offset, then a ``scatter_add_`` that runs on one thread), which cost about a
fifth of the model's forward on 2 cores (docs/benchmarks.md). Here the counted tokens are read
in place, in blocks of :data:`BLOCK` that stay in the L2 cache; each thread owns a fixed range
of the neurons, taken in tiles of :data:`TILE`, so no two threads write the same sum or bin
and each sum adds its tokens in order: the result does not depend on the thread count.

The loop gives what the torch formulation gives (:func:`valuelocate.stats.update.add_rows` and
:func:`~valuelocate.stats.update.hist_update`, which other devices run): the value ``a`` counts
in bin ``ceil(float32(a) * float32(1 / bin_width))`` clipped to ``[0, bins - 1]``, NaN in bin
0, so the histograms are equal; the sums of ``a - shift`` are float64 (of float64 values when
given them), each row's tokens added in order (torch's matrix product adds them in an order of
its own: the sums agree to float64 rounding).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import config, get_num_threads, njit, prange, set_num_threads
from torch import Tensor

from valuelocate.stats.constants import HIST_DTYPE
from valuelocate.stats.moments import OpenBatch

# Measured on the embedded model's activations (1,258 tokens x 1,536 neurons a layer, 30
# layers, 2 cores, 2026-12-06): tiles of 32 neurons (a token's 32 values are two cache lines;
# their 32 x 301 bins, 38 KB, stay in the L1 cache) over blocks of 128 tokens (786 KB of
# values, in the L2 cache) took 74-83 ms; tiles of 16 or 64, blocks of 64 or 256, or one
# thread over half the neurons token by token, 81-141 ms.
TILE = 32
BLOCK = 128


@njit(parallel=True, cache=True, nogil=True)
def _update(  # type: ignore[no-untyped-def]
    x, picked, rows, shift, total, squares, with_squares, hist, with_hist, scale, bins, parts
):
    """Add tokens ``x[picked[i]]`` to row ``rows[i]``'s sums (``total``, and ``squares`` of
    the centred values if ``with_squares``) and count them into ``hist`` if ``with_hist``;
    ``parts`` threads, each over its own tiles of neurons."""
    n = picked.shape[0]
    neurons = x.shape[1]
    top = np.float32(bins - 1)
    zero = np.float32(0.0)
    tiles = (neurons + TILE - 1) // TILE
    for part in prange(parts):
        cells = np.empty(TILE, np.int32)  # a token's bins in the tile, from the tile's start
        for start in range(0, n, BLOCK):
            stop = min(n, start + BLOCK)
            for k in range(part * tiles // parts, (part + 1) * tiles // parts):
                first = k * TILE
                width = min(neurons, first + TILE) - first
                for i in range(start, stop):
                    values = x[picked[i]]
                    row = total[rows[i]]
                    for q in range(width):
                        row[first + q] += np.float64(values[first + q]) - shift[first + q]
                    if with_squares:
                        row2 = squares[rows[i]]
                        for q in range(width):
                            centred = np.float64(values[first + q]) - shift[first + q]
                            row2[first + q] += centred * centred
                    if with_hist:
                        # the bins first, branch-free so that they vectorise (a NaN is bin 0)
                        for q in range(width):
                            b = np.ceil(np.float32(values[first + q]) * scale)
                            b = min(max(b, zero), top)
                            b = zero if b != b else b
                            cells[q] = np.int32(b) + np.int32(q * bins)
                        base = first * bins
                        for q in range(width):
                            hist[base + cells[q]] += 1


def _array(t: Tensor) -> np.ndarray:
    """A contiguous CPU tensor's memory as a numpy array (no copy: the loop writes into it)."""
    if not t.is_contiguous():
        raise ValueError("the statistics' buffers must be contiguous")
    return t.detach().numpy()


def _most_threads() -> int:
    """The most threads numba runs a loop on (``NUMBA_NUM_THREADS``, the cores by default)."""
    return int(config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]  # set at import


def add_tokens(
    opened: OpenBatch,
    x: Tensor,
    picked: Tensor,
    rows: Tensor,
    hist: Tensor | None,
    bin_width: float,
    bins: int,
) -> None:
    """Add tokens ``x[picked]`` (``x`` [tokens, neurons], ``picked`` [n] int64) of batch rows
    ``rows`` [n] to the open batch's sums, and count them into ``hist`` [neurons * bins]
    unless it is None."""
    # float64 values are summed as they are; half precisions widen exactly to float32
    wide = x.detach() if x.dtype in (torch.float32, torch.float64) else x.detach().float()
    values = _array(wide.contiguous())
    squares = opened.squares if opened.squares is not None else opened.total[:0]
    counts = hist if hist is not None else torch.zeros(0, dtype=HIST_DTYPE)
    torch_threads = torch.get_num_threads()
    threads = max(1, min(torch_threads, _most_threads()))
    before = get_num_threads()
    set_num_threads(threads)
    try:
        _update(
            values,
            _array(picked.to(torch.int64).contiguous()),
            _array(rows.to(torch.int64).contiguous()),
            _array(opened.shift),
            _array(opened.total),
            _array(squares),
            opened.squares is not None,
            _array(counts),
            hist is not None,
            np.float32(1.0 / bin_width),
            bins,
            threads,
        )
    finally:
        set_num_threads(before)
        # numba's OpenMP layer shares the OpenMP runtime's thread count with torch, and
        # starting its threads sets that count to its own: put torch's back, or the forward
        # after this call would run on another thread count (and round otherwise).
        if torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)
    opened.count.add_(torch.bincount(rows, minlength=opened.count.shape[0]))


__all__ = ["BLOCK", "TILE", "add_tokens"]
