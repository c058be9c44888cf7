"""The verdict's strong nulls (METHOD.md section 8), read through the linearised response.

- **Label shuffles** (:func:`shuffle_signs`, :func:`shuffled_reads`): the ladder's recipe
  (paired effect size -> top-k -> mean difference on the set) rebuilt from the same contrast
  items with the two poles swapped on a random half of them. Every ladder point's shuffled
  vector is read as ``gradient . vector`` for each instrument; the real edit's rank among them
  gives a one-sided p (:func:`~valuelocate.evaluation.statistics.rank_pvalue`).
- **Random sets** (:func:`random_sets`): the same number of neurons in each layer as a ladder
  point, drawn uniformly within those layers, edited by the same rule (the contrast's mean
  difference on those neurons), each calibrated to the budget by its own gamma search
  (:func:`~valuelocate.comparison.cost.calibrate`, one batched forward per step for every
  vector at once).
- :func:`prediction_pvalue`: how far a value lies beyond a small null sample (one-sided, the
  t prediction interval), for random sets too few for a fine rank p.

The random sets' calibration to the budget is in :mod:`valuelocate.comparison.cost`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from torch import Tensor


def shuffle_signs(items: int, count: int, *, seed: int = 0) -> Tensor:
    """``[count, items]`` float64 of +1, with the poles swapped (-1) on a random half
    (``items // 2``) of the items in each row."""
    generator = torch.Generator().manual_seed(seed)
    signs = torch.ones(count, items, dtype=torch.float64)
    for row in range(count):
        signs[row, torch.randperm(items, generator=generator)[: items // 2]] = -1.0
    return signs


@dataclass
class ShuffleReads:
    """Per label shuffle and ladder point: the vector's norm and its linear reads.

    Attributes:
        norms: ``[shuffles, points]``.
        dots: instrument -> ``[shuffles, points]`` ``gradient . vector`` (gamma 1).
    """

    norms: Tensor
    dots: dict[str, Tensor]


def shuffled_reads(
    diffs: Tensor,
    signs: Tensor,
    sizes: Sequence[int],
    gradients: Mapping[str, Tensor],
    *,
    chunk: int = 64,
) -> ShuffleReads:
    """The ladder rebuilt under each row of ``signs`` and read through ``gradients``.

    Args:
        diffs: ``[items, D]`` per-item paired differences (flattened band), as the ladder's.
        signs: ``[shuffles, items]`` from :func:`shuffle_signs`.
        sizes: the ladder's set sizes (ascending; the last may be ``D``: the whole band).
        gradients: instrument -> ``[D]`` mean reading gradient.
    """
    x = diffs.reshape(diffs.shape[0], -1).double()
    n, width = x.shape
    squares = (x * x).sum(0)
    largest = max(s for s in sizes)
    norms = torch.zeros(signs.shape[0], len(sizes), dtype=torch.float64)
    dots = {k: torch.zeros_like(norms) for k in gradients}
    grads = {k: g.double() for k, g in gradients.items()}
    for begin in range(0, signs.shape[0], chunk):
        s = signs[begin : begin + chunk]
        mean = s @ x / n  # [c, D]
        var = (squares[None, :] - n * mean * mean) / max(n - 1, 1)
        sd = var.clamp(min=0).sqrt()
        dz = torch.where(sd > 0, mean / sd.clamp(min=1e-30), torch.zeros_like(mean))
        order = torch.topk(dz.abs(), k=min(largest, width), dim=1).indices  # [c, largest]
        picked = mean.gather(1, order)
        cum_sq = (picked * picked).cumsum(1)
        cums = {k: (picked * g[order]).cumsum(1) for k, g in grads.items()}
        for p, size in enumerate(sizes):
            at = min(size, order.shape[1]) - 1
            norms[begin : begin + chunk, p] = cum_sq[:, at].sqrt()
            for k in grads:
                dots[k][begin : begin + chunk, p] = cums[k][:, at]
    return ShuffleReads(norms, dots)


def shuffled_vector(diffs: Tensor, signs: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """One shuffle's set and vector at one size: ``(flat indices, values)`` (for an exact read
    of a sample of shuffles)."""
    x = diffs.reshape(diffs.shape[0], -1).double()
    n = x.shape[0]
    mean = signs.double() @ x / n
    sd = ((x * x).sum(0) - n * mean * mean).div(max(n - 1, 1)).clamp(min=0).sqrt()
    dz = torch.where(sd > 0, mean / sd.clamp(min=1e-30), torch.zeros_like(mean))
    flat = torch.topk(dz.abs(), k=min(size, dz.numel())).indices
    return flat, mean[flat]


def random_sets(counts: Sequence[int], neurons: int, count: int, *, seed: int = 0) -> list[Tensor]:
    """``count`` random sets with ``counts[p]`` neurons in the band's ``p``-th layer, as flat
    band indices (``p * neurons + neuron``), sorted."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        parts = [
            p * neurons + torch.randperm(neurons, generator=generator)[:k]
            for p, k in enumerate(counts)
            if k
        ]
        out.append(torch.sort(torch.cat(parts)).values if parts else torch.zeros(0).long())
    return out


def prediction_pvalue(real: float, nulls: Sequence[float] | np.ndarray) -> float:
    """One-sided p that a new draw of the null lies at or beyond ``real`` (toward larger),
    from the t prediction interval of the null sample: ``(real - mean) / (sd sqrt(1 + 1/n))``
    with ``n - 1`` degrees of freedom."""
    x = np.asarray(nulls, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2 or not math.isfinite(real):
        return math.nan
    sd = float(x.std(ddof=1))
    if sd == 0:
        return 0.0 if real > x.mean() else 1.0
    t = (real - float(x.mean())) / (sd * math.sqrt(1 + 1 / x.size))
    return float(stats.t.sf(t, df=x.size - 1))


__all__ = [
    "ShuffleReads",
    "prediction_pvalue",
    "random_sets",
    "shuffle_signs",
    "shuffled_reads",
    "shuffled_vector",
]
