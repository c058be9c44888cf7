"""`valuelocate.evaluation.statistics`: bootstrap intervals and the paired permutation test,
against their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from valuelocate.evaluation.statistics import bootstrap_ci, paired_permutation_pvalue


def test_bootstrap_ci_contains_the_mean_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(0)
    small, large = rng.normal(2.0, 1.0, 20), rng.normal(2.0, 1.0, 500)
    widths = []
    for values in (small, large):
        low, high = bootstrap_ci(values, resamples=1000, seed=1)
        assert low < values.mean() < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 3
    assert bootstrap_ci([], resamples=10) == (pytest.approx(math.nan, nan_ok=True),) * 2
    assert bootstrap_ci([3.0, math.nan]) == (3.0, 3.0)
    again = bootstrap_ci(small, resamples=1000, seed=1)
    assert again == bootstrap_ci(small, resamples=1000, seed=1), "seeded"


def test_bootstrap_ci_accepts_tensors_like_lists() -> None:
    values = [0.5, 1.5, 2.0, 4.0, 7.0]
    assert bootstrap_ci(torch.tensor(values), seed=3) == bootstrap_ci(values, seed=3)


def test_paired_permutation_pvalue() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, 40)
    assert paired_permutation_pvalue(a, a) == 1.0
    noise = a + rng.normal(0.0, 0.1, 40)
    assert paired_permutation_pvalue(noise, a, permutations=2000) > 0.05
    shifted = a + 0.5 + rng.normal(0.0, 0.1, 40)
    assert paired_permutation_pvalue(shifted, a, permutations=2000) < 0.001
    # Small n: every sign pattern is enumerated; all-positive differences give 2 / 2**n.
    assert paired_permutation_pvalue([1.0, 2, 3, 4], [0.0, 0, 0, 0]) == 2 / 16
    assert paired_permutation_pvalue([1.0, math.nan], [0.0, 5.0]) == 1.0


def test_exact_pvalue_equals_brute_force_enumeration() -> None:
    d = [0.3, -1.2, 2.0, 0.7, 1.1]
    observed = abs(sum(d) / len(d))
    hits = 0
    for pattern in range(2 ** len(d)):
        signs = [1 if pattern >> i & 1 else -1 for i in range(len(d))]
        hits += abs(sum(s * x for s, x in zip(signs, d, strict=True)) / len(d)) >= observed - 1e-12
    assert paired_permutation_pvalue(d, [0.0] * 5) == hits / 2 ** len(d)


def test_paired_values_must_have_one_shape() -> None:
    with pytest.raises(ValueError, match="shape"):
        paired_permutation_pvalue([1.0, 2.0], [1.0])
