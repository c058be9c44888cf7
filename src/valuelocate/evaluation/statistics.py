"""Confidence intervals and paired tests over units (items, answers, texts)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from torch import Tensor


def bootstrap_ci(
    values: Tensor | Sequence[float],
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean.

    Args:
        values: the units' values ``[n]``; NaN entries are left out.
        resamples: bootstrap resamples (seeded).
        seed: seed of the resampling.
        level: coverage of the interval.

    Returns:
        ``(low, high)``; ``(nan, nan)`` without values, ``(x, x)`` with one.

    Example:
        >>> bootstrap_ci([1.0, 2.0, 3.0, 4.0], resamples=2000)
        (1.75, 3.25)
    """
    x = _finite(values)
    if x.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)  # [resamples]
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def paired_permutation_pvalue(
    a: Tensor | Sequence[float],
    b: Tensor | Sequence[float],
    *,
    permutations: int = 2000,
    seed: int = 0,
) -> float:
    """Two-sided paired sign-flip permutation test of ``mean(a - b) == 0``.

    Pairs where either value is NaN are left out. Under the null each difference is as
    likely positive as negative; the statistic is ``|mean(d)|``. With ``2**n <= permutations``
    every sign pattern is enumerated (exact p); else ``permutations`` random patterns give
    ``(1 + #{|perm| >= |obs|}) / (1 + permutations)``.

    Args:
        a, b: paired values ``[n]`` (same items, prompts or texts).
        permutations: random sign patterns (seeded).
        seed: seed of the patterns.

    Returns:
        The p-value in (0, 1]; 1.0 when there is no pair or every difference is zero.
    """
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if xa.shape != xb.shape:
        raise ValueError(f"Paired values differ in shape: {xa.shape} vs {xb.shape}")
    keep = np.isfinite(xa) & np.isfinite(xb)
    d = xa[keep] - xb[keep]
    if d.size == 0:
        return 1.0
    observed = abs(d.mean())
    tolerance = 1e-12 * max(1.0, observed)
    if 2**d.size <= permutations:
        patterns = ((np.arange(2**d.size)[:, None] >> np.arange(d.size)) & 1) * 2 - 1
        stats = np.abs((patterns * d).mean(axis=1))
        return float((stats >= observed - tolerance).mean())
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(permutations, d.size))
    stats = np.abs((signs * d).mean(axis=1))
    return float((1 + (stats >= observed - tolerance).sum()) / (1 + permutations))


def _finite(values: Tensor | Sequence[float]) -> np.ndarray:
    x = np.asarray(values.tolist() if isinstance(values, Tensor) else values, dtype=np.float64)
    return x[np.isfinite(x)]
