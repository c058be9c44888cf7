"""Steering edits against hand computations at the site, on a tiny random Llama."""

from __future__ import annotations

import pytest
import torch

from valuelocate.hooks import capture_activations, edit_neurons
from valuelocate.selection import NeuronSet, Selection
from valuelocate.steering.dynamic import (
    dynamic_weight,
    random_control_edit,
    random_control_sets,
    steering_edit,
)
from valuelocate.steering.simple import ablate_edit, add_edit, scale_edit

from tiny_models import build, left_padded_batch

SHAPE = (3, 96)


def _set(pole: str, layers: list[int], indices: list[int], d: list[float]) -> NeuronSet:
    k = len(layers)
    return NeuronSet(
        pole,  # type: ignore[arg-type]
        "hand",
        {},
        SHAPE,
        torch.tensor(layers),
        torch.tensor(indices),
        torch.tensor(d, dtype=torch.float64),
        torch.linspace(0.3, 0.9, k, dtype=torch.float64),  # p
        torch.linspace(0.5, 2.0, k, dtype=torch.float64),  # q95
        torch.zeros(k, dtype=torch.float64),
    )


SELECTION = Selection(
    _set("affirm", [1, 1, 1, 1, 2], [3, 5, 7, 9, 4], [0.30, 0.20, 0.10, 0.50, 0.40]),
    _set("oppose", [1, 2, 2], [10, 11, 12], [0.25, 0.35, 0.15]),
)
BATCH = left_padded_batch([[5, 17, 33, 41, 8, 9], [12, 60, 7]])


def _raw_and_edited(model, edit, **kwargs):  # type: ignore[no-untyped-def]
    # Hooks run in registration order: raw capture, then the edit, then the edited capture.
    with capture_activations(model, scope="all") as raw:
        with edit_neurons(model, edit, **kwargs), capture_activations(model, scope="all") as out:
            with torch.no_grad():
                model(**BATCH)
    return raw, out


@pytest.mark.parametrize("v", ["q95", "p"])
def test_dynamic_edit_matches_hand_computation(v: str) -> None:
    model = build("llama")
    gamma, fraction, seed = 1.5, 0.5, 7
    edit = steering_edit(SELECTION, "affirm", gamma, v=v, fraction=fraction, seed=seed)
    raw, out = _raw_and_edited(model, edit, scope="all")
    # Replay the seeded draws: one per hooked layer, in forward order (layers 1 then 2).
    generator = torch.Generator().manual_seed(seed)
    target = SELECTION.affirm
    value = target.q95 if v == "q95" else target.p
    for layer in (1, 2):
        rows = target.layer == layer
        k = int(rows.sum())
        keep = torch.zeros(k, dtype=torch.bool)
        keep[torch.randperm(k, generator=generator)[: round(fraction * k)]] = True
        expected = raw.values(layer).clone()  # [tokens, neurons]
        weight = value[rows] * torch.sigmoid(10 * (target.d[rows] - 0.15))
        expected[:, target.index[rows]] += (gamma * weight * keep).float()
        for j in SELECTION.oppose.index[SELECTION.oppose.layer == layer].tolist():
            expected[:, j] = expected[:, j].clamp(max=0)
        torch.testing.assert_close(out.values(layer), expected, rtol=0, atol=1e-6)
        untouched = torch.ones(96, dtype=torch.bool)
        untouched[target.index[rows]] = False
        untouched[SELECTION.oppose.index[SELECTION.oppose.layer == layer]] = False
        assert torch.equal(out.values(layer)[:, untouched], raw.values(layer)[:, untouched])
    assert torch.equal(out.values(0), raw.values(0))


def test_draws_are_redrawn_each_call_and_seeded() -> None:
    edit = steering_edit(SELECTION, "affirm", 1.0, fraction=0.5, seed=3)
    first = [edit.draw(4) for _ in range(6)]
    assert all(int(d.sum()) == 2 for d in first)
    assert len({tuple(d.tolist()) for d in first}) > 1, "a new subset at each call"
    edit.reset()
    assert all(torch.equal(a, edit.draw(4)) for a in first)


def test_oppose_pushes_the_other_set_and_clamps_affirm() -> None:
    model = build("llama")
    edit = steering_edit(SELECTION, "oppose", 2.0, fraction=1.0)
    raw, out = _raw_and_edited(model, edit, scope="all")
    layer1 = out.values(1)
    expected_push = raw.values(1)[:, 10] + 2.0 * float(
        SELECTION.oppose.q95[0] * dynamic_weight(SELECTION.oppose.d[:1])[0]
    )
    torch.testing.assert_close(layer1[:, 10], expected_push, rtol=0, atol=1e-6)
    for j in (3, 5, 7, 9):
        assert torch.equal(layer1[:, j], raw.values(1)[:, j].clamp(max=0))


def test_gamma_zero_without_clamp_leaves_logits_bit_identical() -> None:
    model = build("llama")
    with torch.no_grad():
        plain = model(**BATCH).logits
        edit = steering_edit(SELECTION, "affirm", 0.0, clamp=False)
        with edit_neurons(model, edit, scope="all"):
            edited = model(**BATCH).logits
    assert torch.equal(plain, edited)
    with torch.no_grad(), edit_neurons(model, steering_edit(SELECTION, "affirm", 0.0), scope="all"):
        clamped = model(**BATCH).logits
    assert not torch.equal(plain, clamped), "the clamp alone changes the model"


def test_scope_generated_leaves_prompt_columns_alone() -> None:
    model = build("llama")
    edit = steering_edit(SELECTION, "affirm", 3.0, fraction=1.0)
    raw, out = _raw_and_edited(model, edit, scope="generated", prompt_length=4)
    mask = BATCH["attention_mask"].bool()
    columns = torch.arange(6).expand(2, 6)[mask]  # column of each captured token
    prompt_rows = columns < 4
    layer = 1
    assert torch.equal(out.values(layer)[prompt_rows], raw.values(layer)[prompt_rows])
    assert not torch.equal(out.values(layer)[~prompt_rows], raw.values(layer)[~prompt_rows])


def test_random_control_matches_counts_and_avoids_located_neurons() -> None:
    other = Selection(_set("affirm", [0, 2], [1, 2], [0.2, 0.2]), _set("oppose", [2], [3], [0.3]))
    control = random_control_sets(SELECTION, exclude=[other], seed=5)
    located = torch.cat([s.flat_index for sel in (SELECTION, other) for s in sel])
    for got, ref in zip(control, SELECTION, strict=True):
        assert torch.equal(got.counts_per_layer(), ref.counts_per_layer())
        assert torch.equal(got.layer, ref.layer)
        assert torch.equal(got.d, ref.d) and torch.equal(got.q95, ref.q95)
        assert not torch.isin(got.flat_index, located).any()
    both = torch.cat([control.affirm.flat_index, control.oppose.flat_index])
    assert both.unique().numel() == both.numel(), "the two random sets are disjoint"
    again = random_control_sets(SELECTION, exclude=[other], seed=5)
    assert torch.equal(again.affirm.index, control.affirm.index)
    different = random_control_sets(SELECTION, exclude=[other], seed=6)
    assert not torch.equal(different.affirm.index, control.affirm.index)
    edit = random_control_edit(SELECTION, "affirm", 1.0, exclude=[other], seed=5)
    assert sorted(edit.layers()) == [1, 2]


def test_simple_edits() -> None:
    model = build("llama")
    target = SELECTION.affirm
    for edit, fn in (
        (scale_edit(target, 3.0), lambda a: 3.0 * a),
        (add_edit(target, 0.5), lambda a: a + 0.5),
        (ablate_edit(target), torch.zeros_like),
    ):
        raw, out = _raw_and_edited(model, edit, scope="all")
        idx = target.index[target.layer == 1]
        torch.testing.assert_close(out.values(1)[:, idx], fn(raw.values(1)[:, idx]))


def test_edit_is_applied_at_the_site_it_was_located_at() -> None:
    model = build("llama")
    edit = steering_edit(SELECTION, "affirm", 2.0, fraction=1.0, site="down_in")
    assert edit.site == "down_in"
    with capture_activations(model, site="down_in", scope="all") as raw_in:
        with capture_activations(model, site="act", layers=[1], scope="all") as act_seen:
            with edit_neurons(model, edit, scope="all"):  # no site: the edit's own
                with capture_activations(model, site="down_in", scope="all") as out_in:
                    with torch.no_grad():
                        model(**BATCH)
    with capture_activations(model, site="act", layers=[1], scope="all") as act_plain:
        with torch.no_grad():
            model(**BATCH)
    # The act site of layer 1 is untouched (it is computed before the edited down input) ...
    assert torch.equal(act_seen.values(1), act_plain.values(1))
    # ... and the down projection's input carries the push.
    idx = SELECTION.affirm.index[SELECTION.affirm.layer == 1]
    assert not torch.equal(out_in.values(1)[:, idx], raw_in.values(1)[:, idx])
    # An explicit site still wins over the edit's own.
    with capture_activations(model, site="act", layers=[1], scope="all") as raw_act:
        with edit_neurons(model, edit, site="act", scope="all"):
            with capture_activations(model, site="act", layers=[1], scope="all") as out_act:
                with torch.no_grad():
                    model(**BATCH)
    assert not torch.equal(out_act.values(1)[:, idx], raw_act.values(1)[:, idx])
