"""The sparsity curve on the real 260k-parameter Llama: nulls keep each point's per-layer
counts, every vector is calibrated to the budget by its own search, the dev rule is the one
written down, and the served control adds exactly its own calibrated strength."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

import serve_fixtures as fx
from valuelocate.comparison.curve import (
    DEV_ALPHA,
    DimensionReads,
    calibrate_ladder,
    choose_default,
    curve_rows,
    point_test,
)
from valuelocate.comparison.linear import read_linear
from valuelocate.data.decision_pairs import load_decision_pairs
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.locating.ladder import locate_ladders

lm = fx.lm

pytestmark = fx.needs_stories

OPTIONS = SimpleNamespace(random_sets=4, shuffles=30, steps=3, start_gamma=1.0, seed=0)
TEXTS = ["Once upon a time there was a cat.", "The sun was hot and the sky was blue today."]


@pytest.fixture(scope="module")
def calibrated(lm):  # type: ignore[no-untyped-def]
    ladders, diffs = locate_ladders(lm, ["conservation"], fractions=(0.01, 0.05))
    ladder = ladders["conservation"]
    dev = load_forced_choice(dimension="conservation", split="dev")[:4]
    test = load_forced_choice(dimension="conservation", split="test")[:4]
    pairs = load_decision_pairs(dimension="conservation", split="test")[:4]
    reads = {
        name: read_linear(lm, items, ladder.layers)
        for name, items in (("dev", dev), ("forced_choice", test), ("decision_pairs", pairs))
    }
    data = DimensionReads(
        ladder, diffs["conservation"], reads, read_linear(lm, test[:2], ladder.layers)
    )
    return calibrate_ladder(lm, data, TEXTS, budget=1.10, options=OPTIONS), test[:2]


def test_every_point_and_null_is_calibrated_to_the_budget(calibrated) -> None:  # type: ignore[no-untyped-def]
    cal, _ = calibrated
    ladder = cal.ladder
    assert len(cal.gammas) == len(ladder.sizes) == 3  # 1%, 5%, the band
    for point in range(len(ladder.sizes)):
        for pole in ("affirm", "oppose"):
            assert cal.gammas[point][pole] > 0
            assert 1.10**0.95 <= cal.costs[point][pole] <= 1.10
        assert len(cal.nulls[point]) == 4
        assert torch.all(cal.null_gammas[point] > 0)
        assert torch.all(cal.null_costs[point] <= 1.10)
        assert torch.all(cal.null_costs[point] >= 1.10**0.95)  # at the budget, not below it
        # the measured cost is the cost of the gamma returned
        flat, values = cal.nulls[point][1]
        dense = torch.zeros(ladder.delta.numel(), dtype=torch.float64)
        dense[flat] = values * cal.null_gammas[point][1]
        assert float(cal.cost(dense[None])[0]) == pytest.approx(
            float(cal.null_costs[point][1]), rel=1e-6
        )


def test_random_nulls_keep_each_points_per_layer_counts(calibrated) -> None:  # type: ignore[no-untyped-def]
    cal, _ = calibrated
    ladder = cal.ladder
    n = ladder.neurons_per_layer
    for point in range(len(ladder.sizes) - 1):
        want = [ladder.counts(point).get(layer, 0) for layer in ladder.layers]
        for flat, values in cal.nulls[point]:
            assert [
                int(((flat >= p * n) & (flat < (p + 1) * n)).sum()) for p in range(len(want))
            ] == want
            assert values.equal(ladder.delta[flat])  # each neuron carries its own difference
    band = len(ladder.sizes) - 1
    flat, values = cal.nulls[band][0]  # the band: the same neurons, values permuted per layer
    for p in range(len(ladder.layers)):
        block = slice(p * n, (p + 1) * n)
        assert sorted(values[block].tolist()) == sorted(ladder.delta[block].tolist())


def test_the_dev_rule_and_the_curve_agree(calibrated) -> None:  # type: ignore[no-untyped-def]
    cal, _ = calibrated
    rows = curve_rows(cal)
    point, accepted = choose_default(cal)
    accepted_points = [i for i, row in enumerate(rows) if row["dev"]["accepted"]]
    assert point == (accepted_points[0] if accepted_points else len(rows) - 1)
    assert accepted == bool(accepted_points)
    for i, row in enumerate(rows):
        dev = point_test(cal, i, "dev")
        assert row["dev"]["accepted"] == (
            dev["gap"] > 0 and dev["p_random"] < DEV_ALPHA and dev["p_shuffle"] < DEV_ALPHA
        )
        assert row["forced_choice"]["random_low"] <= row["forced_choice"]["random_high"]


def test_the_control_edit_adds_its_own_calibrated_strength(calibrated) -> None:  # type: ignore[no-untyped-def]
    cal, _ = calibrated
    flat, values = cal.nulls[0][0]
    gammas = cal.control(0)["gammas"]
    # toward the affirming pole: the first random null at the gamma the curve calibrated
    assert gammas["affirm"] == float(cal.null_gammas[0][0])
    for pole, sign in (("affirm", 1.0), ("oppose", -1.0)):
        control = cal.control_edit(0, pole).with_gamma(cal.gammas[0][pole])
        added = torch.cat([control.gamma * control.deltas[k] for k in sorted(control.deltas)])
        assert added == pytest.approx((sign * gammas[pole] * values).tolist(), rel=1e-9)
    # toward the opposing one the negated null has its own search, within the budget's window
    costs = cal.control(0)["costs"]
    assert 1.10**0.95 - 1e-9 <= costs["oppose"] <= 1.10 + 1e-9


def test_linear_and_exact_reads_are_both_recorded(calibrated, lm) -> None:  # type: ignore[no-untyped-def]
    cal, head = calibrated
    out = cal.agreement(lm, head, True, 0)
    assert out["items"] == 2
    for case in ("edit", "random_set", "shuffle"):
        assert set(out[case]) == {"gap", "exact_gap", "ratio"}
    assert len(cal.shuffle_cost_sample(0)) == 8


def test_label_shuffles_are_read_at_matched_cost_not_matched_norm(calibrated) -> None:  # type: ignore[no-untyped-def]
    cal, _ = calibrated
    for point in range(len(cal.ladder.sizes)):
        costs = sorted(cal.shuffle_cost_sample(point))
        # the sampled shuffles at the common norm cost about the budget: each was calibrated
        # within 5% of log budget and the median norm puts them on both sides of it
        middle = math.log(costs[len(costs) // 2])
        assert 0.5 * math.log(1.10) <= middle <= 1.5 * math.log(1.10)
        # the gaps are read at that norm
        scale = cal.shuffle_norms[point] / cal.shuffles.norms[0, point]
        expect = 2 * scale * cal.shuffles.dots["dev"][0, point]
        assert cal.shuffle_gaps(point, "dev")[0] == pytest.approx(float(expect), rel=1e-9)
