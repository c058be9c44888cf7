"""Streaming moments (:mod:`valuelocate.stats.moments`): folding batches with Chan's update
gives the two-pass count, mean and M2, and zero-weight rows add nothing."""

from __future__ import annotations

import torch

from valuelocate.stats.moments import Moments, chan_update, weighted_moments


def test_chan_update_over_batches_equals_one_pass() -> None:
    x = torch.randn(11, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    acc = Moments(torch.zeros((), dtype=torch.int64), torch.zeros(4, dtype=torch.float64),
                  torch.zeros(4, dtype=torch.float64))  # fmt: skip
    for part in (x[:3], x[3:3], x[3:]):  # an empty batch adds nothing
        chan_update(acc, *weighted_moments(part, torch.ones(len(part), dtype=torch.bool)))
    assert int(acc.n) == 11
    torch.testing.assert_close(acc.mean, x.mean(0))
    torch.testing.assert_close(acc.m2, ((x - x.mean(0)) ** 2).sum(0))


def test_rows_of_weight_zero_are_left_out() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, 6.0], [100.0, 100.0]], dtype=torch.float64)
    n, mean, m2 = weighted_moments(x, torch.tensor([True, True, False]))
    assert int(n) == 2 and mean.tolist() == [2.0, 4.0] and m2.tolist() == [2.0, 8.0]
