"""The sparsity ladder's arithmetic: the paired effect and the ranking worked by hand, the
points' sizes, nested sets, and the edits checked against the mean-difference rule's own."""

from __future__ import annotations

import math

import pytest
import torch

from valuelocate.steering.ladder import (
    DEFAULT_FRACTIONS,
    Ladder,
    build_ladder,
    fraction_label,
    ladder_points,
    paired_effect,
)
from valuelocate.steering.mean_diff import selected_edit

# Three items, a band of two layers (model layers 1 and 2) of two neurons: flat band index
# position * 2 + neuron. Per flat index, the items' paired differences:
#   0: 0, 0, 0    mean 0   sd 0        dz 0 (sd 0)
#   1: 1, 1, 4    mean 2   sd sqrt(3)  dz 2 / sqrt(3)
#   2: -2, -4, -6 mean -4  sd 2        dz -2
#   3: 1, 2, 3    mean 2   sd 1        dz 2
# |dz| ranks 2 and 3 first (a tie: the smaller index first), then 1, then 0.
COLUMNS = [[0.0, 0.0, 0.0], [1.0, 1.0, 4.0], [-2.0, -4.0, -6.0], [1.0, 2.0, 3.0]]
DIFFS = torch.tensor(COLUMNS).T.reshape(3, 2, 2)  # [items, layers, neurons]
# A model of 5 layers x 2 neurons: 10 in all. 0.1 -> 1, 0.2 -> 2, 0.25 -> round(2.5) = 2 (a
# repeat, kept once), 0.3 -> 3, 0.5 -> 5 >= the band's 4 (dropped: the band covers it).
FRACTIONS = (0.1, 0.2, 0.25, 0.3, 0.5)


def _hand_ladder() -> Ladder:
    return build_ladder(
        DIFFS, dimension="conservation", layers=(1, 2), total_neurons=10, fractions=FRACTIONS
    )


def test_paired_effect_by_hand() -> None:
    mean, dz = paired_effect(DIFFS)
    assert mean.dtype == dz.dtype == torch.float64 and mean.shape == (4,)
    assert mean.tolist() == [0.0, 2.0, -4.0, 2.0]
    expected = torch.tensor([0.0, 2 / math.sqrt(3), -2.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(dz, expected, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="at least two items"):
        paired_effect(DIFFS[:1])


def test_ranking_and_points_by_hand() -> None:
    ladder = _hand_ladder()
    assert ladder.order.tolist() == [2, 3, 1, 0]
    assert ladder.sizes == (1, 2, 3, 4)
    assert ladder.labels == ("10%", "20%", "30%", "band")
    assert ladder.fractions == (0.1, 0.2, 0.3, 0.4)
    assert (ladder.items, ladder.neurons_per_layer, ladder.band_size) == (3, 2, 4)
    assert ladder.contrast == "pairs" and ladder.layers == (1, 2)
    assert [ladder.flat(k).tolist() for k in range(4)] == [[2], [2, 3], [1, 2, 3], [0, 1, 2, 3]]
    assert {k: v.tolist() for k, v in ladder.neurons(1).items()} == {2: [0, 1]}
    assert {k: v.tolist() for k, v in ladder.neurons(2).items()} == {1: [1], 2: [0, 1]}
    assert ladder.counts(2) == {1: 1, 2: 2} and ladder.counts(0) == {2: 1}
    assert ladder.vector(1).tolist() == [0.0, 0.0, -4.0, 2.0]
    assert ladder.vector(2).tolist() == [0.0, 2.0, -4.0, 2.0]
    edit = ladder.edit(1, 3.0)
    assert (edit.gamma, edit.site, edit.kind) == (3.0, "act", "located")
    assert {k: v.tolist() for k, v in edit.indices.items()} == {2: [0, 1]}
    assert {k: v.tolist() for k, v in edit.deltas.items()} == {2: [-4.0, 2.0]}
    oppose = ladder.edit(1, 3.0, sign=-1.0)
    assert {k: v.tolist() for k, v in oppose.deltas.items()} == {2: [4.0, -2.0]}


def test_default_points_on_the_stories_and_smol_geometries() -> None:
    assert ladder_points(DEFAULT_FRACTIONS, total_neurons=5 * 172, band_size=4 * 172) == (
        (1, 3, 9, 26, 86, 688),
        ("0.1%", "0.3%", "1%", "3%", "10%", "band"),
    )
    sizes, _ = ladder_points(DEFAULT_FRACTIONS, total_neurons=30 * 1536, band_size=15 * 1536)
    assert sizes == (46, 138, 461, 1382, 4608, 23040)
    # A tiny model: 0.1% and 0.3% both round to one neuron, kept once (as 0.1%).
    assert ladder_points(DEFAULT_FRACTIONS, total_neurons=288, band_size=192) == (
        (1, 3, 9, 29, 192),
        ("0.1%", "1%", "3%", "10%", "band"),
    )
    assert ladder_points((), total_neurons=10, band_size=4) == ((4,), ("band",))
    assert [fraction_label(f) for f in DEFAULT_FRACTIONS] == ["0.1%", "0.3%", "1%", "3%", "10%"]
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        ladder_points((0.0,), total_neurons=10, band_size=4)


def test_random_ladder_is_nested_and_agrees_with_its_views() -> None:
    generator = torch.Generator().manual_seed(0)
    diffs = torch.randn(7, 3, 20, generator=generator)
    diffs[:, 1, 5] = diffs[:, 0, 2]  # a tie in |dz| across layers, and one of opposite sign
    diffs[:, 2, 0] = -diffs[:, 0, 2]
    diffs[:, 2, 7] = 0.0  # sd 0: dz 0
    layers = (3, 4, 6)
    ladder = build_ladder(
        diffs, dimension="openness_to_change", layers=layers, total_neurons=8 * 20
    )
    _, dz = paired_effect(diffs)
    expected = sorted(range(60), key=lambda i: (-abs(float(dz[i])), i))
    assert ladder.order.tolist() == expected
    assert ladder.effect[47].item() == 0.0
    assert ladder.effect[25] == ladder.effect[2] == -ladder.effect[40]  # a three-way tie
    at = ladder.order.tolist().index(2)
    assert ladder.order[at : at + 3].tolist() == [2, 25, 40], "ties by the smaller index"
    assert ladder.sizes == (1, 2, 5, 16, 60)  # 0.16 and 0.48 both clip to 1, kept once
    full = torch.zeros(8, 20, dtype=torch.float64)  # the mean difference, model-wide
    full[list(layers)] = ladder.delta.reshape(3, 20)
    previous: set[int] = set()
    for k, size in enumerate(ladder.sizes):
        flat = ladder.flat(k)
        assert flat.tolist() == sorted(ladder.order[:size].tolist())
        assert previous <= set(flat.tolist())
        previous = set(flat.tolist())
        rebuilt = sorted(
            layers.index(layer) * 20 + int(n)
            for layer, index in ladder.neurons(k).items()
            for n in index
        )
        assert rebuilt == flat.tolist()
        assert ladder.counts(k) == {l: len(v) for l, v in ladder.neurons(k).items()}  # noqa: E741
        assert sum(ladder.counts(k).values()) == size
        vector = ladder.vector(k)
        outside = torch.ones(60, dtype=torch.bool)
        outside[flat] = False
        assert torch.equal(vector[flat], ladder.delta[flat])
        assert not bool(vector[outside].any())
        # The edit is the mean-difference rule's selected edit on the point's neurons.
        edit, rule = ladder.edit(k, 2.5), selected_edit(full, ladder.neurons(k), gamma=2.5)
        oppose = ladder.edit(k, 2.5, sign=-1.0)
        assert edit.indices.keys() == rule.indices.keys() == oppose.indices.keys()
        for layer in rule.indices:
            assert torch.equal(edit.indices[layer], rule.indices[layer])
            assert torch.equal(edit.deltas[layer], rule.deltas[layer])
            assert torch.equal(oppose.deltas[layer], -rule.deltas[layer])
        assert edit.norm() == pytest.approx(float(vector.norm()))


def test_inconsistent_ladders_are_refused() -> None:
    good = _hand_ladder()
    fields = {f: getattr(good, f) for f in good.__dataclass_fields__}
    bad = {
        "sizes": {"sizes": (2, 1, 4)},
        "band": {"sizes": (1, 2, 3)},
        "permutation": {"order": torch.tensor([2, 2, 1, 0])},
        "descending": {"order": torch.tensor([1, 2, 3, 0])},
        "float64": {"effect": good.effect.float()},
        "length": {"labels": ("a",)},
        "layers": {"layers": (2, 1)},
    }
    for name, change in bad.items():
        with pytest.raises(ValueError):
            Ladder(**{**fields, **change})
        assert name
    with pytest.raises(ValueError, match="diffs must be"):
        build_ladder(DIFFS, dimension="x", layers=(1, 2, 3), total_neurons=10)
    with pytest.raises(ValueError, match="NaN"):
        build_ladder(DIFFS * math.nan, dimension="x", layers=(1, 2), total_neurons=10)
