"""The run's summary (:func:`valuelocate.locating.summary.summarize`) from hand-made neuron
sets: counts, percents, per-layer counts and Jaccard overlaps, checked by hand."""

from __future__ import annotations

import pytest
import torch

from valuelocate.architectures import ModelShape
from valuelocate.locating.summary import summarize
from valuelocate.selection.sets import NeuronSet, Selection

SHAPE = ModelShape(family="llama", num_layers=3, neurons_per_layer=10)


def _set(pole: str, neurons: list[tuple[int, int]]) -> NeuronSet:
    k = len(neurons)
    return NeuronSet(
        pole=pole,  # type: ignore[arg-type]
        method="hand",
        params={},
        shape=(SHAPE.num_layers, SHAPE.neurons_per_layer),
        layer=torch.tensor([n[0] for n in neurons], dtype=torch.int64),
        index=torch.tensor([n[1] for n in neurons], dtype=torch.int64),
        d=torch.ones(k, dtype=torch.float64),
        p=torch.ones(k, dtype=torch.float64),
        q95=torch.ones(k, dtype=torch.float64),
        effect_size=torch.ones(k, dtype=torch.float64),
    )


def test_summary_counts_and_overlaps() -> None:
    selections = {
        "conservation": Selection(_set("affirm", [(0, 1), (2, 3), (2, 4)]), _set("oppose", [])),
        "openness_to_change": Selection(_set("affirm", [(2, 3), (1, 0)]), _set("oppose", [(0, 9)])),
    }
    summary = summarize(selections, SHAPE)
    assert (summary.total_neurons, summary.num_layers, summary.neurons_per_layer) == (30, 3, 10)
    affirm = summary.dimensions["conservation"]["affirm"]
    assert affirm.count == 3 and affirm.percent == pytest.approx(10.0)
    assert affirm.per_layer == [1, 0, 2]
    assert summary.dimensions["conservation"]["oppose"].per_layer == [0, 0, 0]
    # The affirm sets share neuron (2, 3) of four distinct ones.
    assert summary.overlap["affirm"]["conservation"]["openness_to_change"] == pytest.approx(0.25)
    assert summary.overlap["oppose"]["conservation"]["openness_to_change"] == 0.0  # empty set
    assert summary.overlap["all"]["conservation.affirm"]["conservation.affirm"] == 1.0
    assert set(summary.overlap) == {"all", "affirm", "oppose"}
