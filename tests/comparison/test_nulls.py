"""Strong nulls: label shuffles rank a planted direction first and a null one uniformly; random
sets keep per-layer counts; the batched cost equals the one-text-per-forward cost."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from valuelocate.comparison.cost import VectorCost
from valuelocate.comparison.linear import vector_edit
from valuelocate.comparison.nulls import (
    prediction_pvalue,
    random_sets,
    shuffle_signs,
    shuffled_reads,
    shuffled_vector,
)
from valuelocate.evaluation.statistics import rank_pvalue
from valuelocate.steering.budget import NeutralCost


def _p_real(diffs: torch.Tensor, gradient: torch.Tensor, size: int, seed: int) -> float:
    n = diffs.shape[0]
    signs = torch.cat([torch.ones(1, n, dtype=torch.float64), shuffle_signs(n, 199, seed=seed)])
    reads = shuffled_reads(diffs, signs, [size], {"fc": gradient})
    dots = reads.dots["fc"][:, 0].numpy()
    return rank_pvalue(float(dots[0]), dots[1:])


def test_shuffle_signs_swap_half() -> None:
    signs = shuffle_signs(7, 50, seed=3)
    assert signs.shape == (50, 7)
    assert bool(((signs == -1).sum(1) == 3).all())
    assert not torch.equal(signs[0], signs[1])


def test_planted_direction_ranks_first_and_null_ranks_uniformly() -> None:
    planted, null = [], []
    for seed in range(40):
        g = torch.Generator().manual_seed(seed)
        diffs = torch.randn(20, 50, generator=g, dtype=torch.float64)
        gradient = torch.zeros(50, dtype=torch.float64)
        gradient[7] = 1.0
        null.append(_p_real(diffs, gradient, 5, seed))
        diffs[:, 7] += 1.5  # every item moves neuron 7 toward the affirming pole
        planted.append(_p_real(diffs, gradient, 5, seed))
    assert max(planted) <= 0.01  # ranks first (p = 1/200) on every seed
    share = np.mean(np.asarray(null) <= 0.25)
    assert 0.05 <= share <= 0.5  # about a quarter of null p-values fall below 0.25


def test_shuffled_reads_equal_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    diffs = torch.randn(9, 30, generator=g, dtype=torch.float64)
    grad = torch.randn(30, generator=g, dtype=torch.float64)
    signs = shuffle_signs(9, 5, seed=1)
    reads = shuffled_reads(diffs, signs, [3, 10, 30], {"fc": grad}, chunk=2)
    for row in range(5):
        for p, size in enumerate([3, 10, 30]):
            flat, values = shuffled_vector(diffs, signs[row], size)
            assert float(reads.dots["fc"][row, p]) == pytest.approx(float(grad[flat] @ values))
            assert float(reads.norms[row, p]) == pytest.approx(float(values.norm()))


def test_random_sets_keep_per_layer_counts() -> None:
    sets = random_sets([2, 0, 3], 10, 4, seed=0)
    assert len(sets) == 4
    for s in sets:
        assert [int(((s >= p * 10) & (s < (p + 1) * 10)).sum()) for p in range(3)] == [2, 0, 3]
        assert torch.equal(s, torch.sort(s).values) and s.unique().numel() == 5
    assert not torch.equal(sets[0], sets[1])


def test_prediction_pvalue() -> None:
    nulls = [0.0, 1.0, -1.0, 0.5, -0.5]
    assert prediction_pvalue(10.0, nulls) < 0.01
    assert 0.3 < prediction_pvalue(0.0, nulls) < 0.7
    assert math.isnan(prediction_pvalue(1.0, [0.0]))


def test_vector_cost_matches_neutral_cost(stories_lm) -> None:  # type: ignore[no-untyped-def]
    texts = ["Once upon a time there was a cat.", "The sun was hot and the sky was blue today."]
    layers = [1, 2]
    neurons = stories_lm.model.config.intermediate_size
    cost = VectorCost(stories_lm, texts, layers, rows_per_forward=4)
    reference = NeutralCost(stories_lm, texts=texts)
    g = torch.Generator().manual_seed(0)
    vectors = torch.randn(3, len(layers) * neurons, generator=g, dtype=torch.float64) * 0.3
    vectors[0] = 0.0
    batched = cost(vectors)
    assert float(batched[0]) == pytest.approx(1.0, abs=1e-5)
    for k in (1, 2):
        edit = vector_edit(layers, neurons, torch.arange(vectors.shape[1]), vectors[k])
        assert float(batched[k]) == pytest.approx(reference(edit), rel=1e-4)


def test_vector_cost_skipping_the_layers_below_the_edit_equals_the_full_forward(
    stories_lm,
) -> None:  # type: ignore[no-untyped-def]
    texts = ["Once upon a time there was a cat.", "The sun was hot.", "A dog ran home."]
    layers = [1, 2, 3]
    neurons = stories_lm.model.config.intermediate_size
    g = torch.Generator().manual_seed(1)
    vectors = torch.randn(5, len(layers) * neurons, generator=g, dtype=torch.float64) * 0.3
    vectors[:, :neurons] = 0.0  # nothing in layer 1: the first edited layer is 2
    skipping = VectorCost(stories_lm, texts, layers, rows_per_forward=6)
    full = VectorCost(stories_lm, texts, layers, rows_per_forward=6, skip_layers=False)
    assert set(skipping._first_layers(vectors)) == {2} and set(full._first_layers(vectors)) == {0}
    fast, slow = skipping(vectors), full(vectors)
    assert torch.allclose(fast, slow, rtol=1e-5)
    assert float((slow - 1).abs().min()) > 1e-4  # the vectors do cost something
    assert 2 in skipping._below and skipping._below[2] is not None


def test_vector_cost_defers_the_head_only_where_it_equals_the_forward(
    stories_lm,
) -> None:  # type: ignore[no-untyped-def]
    """The cost with the output head run a few rows at a time equals the one from the
    forward's whole logits; a model whose forward does something to its logits that
    ``head_logits`` does not know (here a soft-capping the Llama's forward never applies)
    fails the check at construction and keeps the forward's logits, with the same costs."""
    texts = ["Once upon a time there was a cat.", "The sun was hot.", "A dog ran home."]
    layers = [1, 2]
    neurons = stories_lm.model.config.intermediate_size
    g = torch.Generator().manual_seed(2)
    vectors = torch.randn(4, len(layers) * neurons, generator=g, dtype=torch.float64) * 0.3
    cost = VectorCost(stories_lm, texts, layers, rows_per_forward=5)
    assert cost.deferred
    deferred = cost(vectors)
    cost.deferred = False
    torch.testing.assert_close(cost(vectors), deferred, rtol=1e-6, atol=0)
    stories_lm.model.config.final_logit_softcapping = 1.0
    try:
        unknown = VectorCost(stories_lm, texts, layers, rows_per_forward=5)
    finally:
        del stories_lm.model.config.final_logit_softcapping
    assert not unknown.deferred
    torch.testing.assert_close(unknown(vectors), deferred, rtol=1e-6, atol=0)
