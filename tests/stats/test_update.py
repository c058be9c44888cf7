"""One ``add``'s arithmetic (:mod:`valuelocate.stats.update`): each prompt's shifted sums and
token count, with padding left out; and the readings stacked per layer
(:mod:`valuelocate.stats.readout`)."""

from __future__ import annotations

import torch

from valuelocate.stats import NeuronStats
from valuelocate.stats.moments import OpenBatch
from valuelocate.stats.readout import StatsReadout, gather
from valuelocate.stats.update import add_rows


def test_add_rows_sums_each_prompts_kept_tokens() -> None:
    shift = torch.tensor([1.0, 0.0], dtype=torch.float64)
    sums = torch.zeros(2, 2, dtype=torch.float64)
    opened = OpenBatch(shift, sums, sums.clone(), torch.zeros(2, dtype=torch.int64))
    # Two prompts of two tokens each; prompt 1's last token is padding holding garbage.
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [1e9, float("nan")]])
    add_rows(opened, x, torch.tensor([True, True, True, False]), batch=2)
    assert opened.count.tolist() == [2, 1]
    assert opened.total.tolist() == [[2.0, 6.0], [4.0, 6.0]]
    assert opened.squares is not None and opened.squares.tolist() == [[4.0, 20.0], [16.0, 36.0]]


def test_readings_are_stacked_per_layer() -> None:
    stacked = gather([torch.zeros(3), torch.ones(3)])
    assert stacked.shape == (2, 3) and stacked[1].tolist() == [1.0, 1.0, 1.0]
    stats = NeuronStats(num_layers=2, neurons=3)
    assert isinstance(stats, StatsReadout) and stats.mean.shape == (2, 3)
