"""Streaming moments of the statistics: per-layer (count, mean, M2) merged with Chan's
update, and the open batch's per-prompt sums (see :class:`valuelocate.stats.NeuronStats`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Moments:
    """Count, mean and M2 (sum of squared deviations) of one layer's neurons."""

    n: Tensor  # [] int64
    mean: Tensor  # [neurons] float64
    m2: Tensor  # [neurons] float64

    def to(self, device: torch.device) -> Moments:
        return Moments(self.n.to(device), self.mean.to(device), self.m2.to(device))

    def clone(self) -> Moments:
        return Moments(self.n.clone(), self.mean.clone(), self.m2.clone())


@dataclass
class OpenBatch:
    """One layer's sums for the batch being traced, per row (prompt)."""

    shift: Tensor  # [neurons] float64: running token mean when the batch opened
    total: Tensor  # [batch, neurons] float64: sum of (a - shift)
    squares: Tensor | None  # [batch, neurons] float64: sum of (a - shift)^2 (None: no var)
    count: Tensor  # [batch] int64: tokens counted

    def to(self, device: torch.device) -> OpenBatch:
        squares = None if self.squares is None else self.squares.to(device)
        return OpenBatch(
            self.shift.to(device), self.total.to(device), squares, self.count.to(device)
        )


def chan_update(acc: Moments, n_b: Tensor, mean_b: Tensor, m2_b: Tensor) -> None:
    """Fold a batch's (count, mean, M2) into ``acc`` in place (Chan, Golub and LeVeque 1979).

    Works without reading ``n_b`` back to the host: a batch with ``n_b == 0`` adds exactly
    nothing because its weight ``n_b / n`` is zero.
    """
    n_a = acc.n.to(torch.float64)
    n_bf = n_b.to(torch.float64)
    total = (n_a + n_bf).clamp(min=1.0)
    delta = mean_b - acc.mean  # [neurons]
    acc.mean.add_(delta * (n_bf / total))
    acc.m2.add_(m2_b + delta.square() * (n_a * n_bf / total))
    acc.n.add_(n_b)


def gathers_tokens(device: torch.device) -> bool:
    """Whether to drop out-of-scope tokens before the update (which reads the mask back to
    the host) rather than weigh them by zero: only where reading back is free, on the CPU."""
    return device.type == "cpu"


def weighted_moments(x: Tensor, weight: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(count, mean, M2) over the rows of ``x`` [rows, neurons] float64 with 0/1 ``weight``
    [rows] bool; rows of weight 0 must hold finite values."""
    w = weight.to(torch.float64)[:, None]  # [rows, 1]
    n_b = weight.sum()
    mean_b = (x * w).sum(0) / n_b.clamp(min=1)
    m2_b = ((x - mean_b).square_() * w).sum(0)
    return n_b, mean_b, m2_b
