"""The mean-difference edit: what it adds, at the site, and its matched control."""

from __future__ import annotations

import torch

from valuelocate.hooks import capture_activations, edit_neurons
from valuelocate.stats import NeuronStats
from valuelocate.steering.mean_diff import (
    band_edit,
    mean_difference,
    permuted_control,
    selected_edit,
)

from tiny_models import build, left_padded_batch

LAYERS, NEURONS = 3, 96


def _planted_diff() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(LAYERS, NEURONS, generator=generator, dtype=torch.float64)


def test_mean_difference_is_target_minus_other_prompt_means():
    target, other = NeuronStats(1, 2, hist_bins=3), NeuronStats(1, 2, hist_bins=3)
    target.add(
        0, torch.tensor([[[1.0, 0.0], [3.0, 0.0]], [[5.0, 1.0], [5.0, 1.0]]])
    )  # means 2,0 / 5,1
    target.end_batch()
    other.add(0, torch.tensor([[[1.0, 1.0]]]))
    other.end_batch()
    diff = mean_difference(target, other)
    assert torch.allclose(diff, torch.tensor([[2.5, -0.5]], dtype=torch.float64))
    token = mean_difference(target, other, level="token")
    assert torch.allclose(token, torch.tensor([[2.5, -0.5]], dtype=torch.float64))


def test_band_edit_changes_exactly_the_band_by_gamma_times_diff_at_the_site():
    model = build("llama")
    batch = left_padded_batch([[5, 6, 7, 8], [9, 10, 11]])
    diff = _planted_diff()
    with torch.no_grad(), capture_activations(model, layers=[1]) as before:
        model(**batch)
    # Only layer 1 is edited: layer 1's own values then change by exactly gamma * diff
    # (its input comes from unedited layer 0), while layer 0 is untouched.
    edit = band_edit(diff, [1], gamma=0.5)
    with torch.no_grad(), edit_neurons(model, edit, scope="all"):
        with capture_activations(model, layers=[0, 1]) as after:
            model(**batch)
    with torch.no_grad(), capture_activations(model, layers=[0]) as plain0:
        model(**batch)
    assert torch.equal(after.values(0), plain0.values(0))
    change = after.values(1) - before.values(1)  # [tokens, neurons]: every neuron of the band
    expected = (0.5 * diff[1]).float().expand_as(change)
    assert torch.allclose(change, expected, atol=1e-6)


def test_gamma_zero_is_bit_identical():
    model = build("llama")
    batch = left_padded_batch([[5, 6, 7, 8], [9, 10, 11]])
    with torch.no_grad():
        plain = model(**batch).logits
        with edit_neurons(model, band_edit(_planted_diff(), [0, 1, 2], gamma=0.0), scope="all"):
            edited = model(**batch).logits
    assert torch.equal(plain, edited)


def test_selected_edit_and_its_permuted_control():
    diff = _planted_diff()
    located = {0: [1, 5, 9], 2: [3, 4]}
    edit = selected_edit(diff, located, gamma=2.0)
    assert edit.counts() == {0: 3, 2: 2}
    assert torch.equal(edit.deltas[0], diff[0, [1, 5, 9]])
    other_pole = torch.tensor([0 * NEURONS + 20, 2 * NEURONS + 50])  # flat indices
    exclude = torch.cat([torch.tensor([1, 5, 9]), 2 * NEURONS + torch.tensor([3, 4]), other_pole])
    control = permuted_control(edit, neurons_per_layer=NEURONS, exclude=exclude, seed=3)
    assert control.counts() == edit.counts()
    assert control.gamma == edit.gamma
    assert abs(control.norm() - edit.norm()) < 1e-12
    for layer in edit.indices:
        assert sorted(control.deltas[layer].tolist()) == sorted(edit.deltas[layer].tolist())
        flat = layer * NEURONS + control.indices[layer]
        assert not torch.isin(flat, exclude).any()


def test_band_control_permutes_within_each_layer():
    diff = _planted_diff()
    edit = band_edit(diff, [0, 2], gamma=1.0)
    control = permuted_control(edit, neurons_per_layer=NEURONS, seed=0)
    for layer in (0, 2):
        assert torch.equal(control.indices[layer], edit.indices[layer])
        assert torch.equal(control.deltas[layer].sort().values, edit.deltas[layer].sort().values)
        assert not torch.equal(control.deltas[layer], edit.deltas[layer])
    assert abs(control.norm() - edit.norm()) < 1e-12
