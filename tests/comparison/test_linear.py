"""The linearised response: exact at zero, agrees with finite differences, biases read exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.forced_choice_items import Item

from valuelocate.comparison.forced_choice import likelihood_reading
from valuelocate.comparison.linear import agreement, read_linear, vector_edit
from valuelocate.steering.word_priming import LogitBias

ITEMS = [  # noqa: E501
    Item("a", "conservation", "Once upon a time there was a little dog.", "He was happy.", "She ran away."),  # noqa: E501
    Item("b", "conservation", "Lily went to the park with her mom.", "They played ball.", "It was dark and cold."),  # noqa: E501
    Item("c", "conservation", "Tom had a red ball.", "He gave it to Sue.", "He lost it."),  # noqa: E501
]  # fmt: skip  # noqa: E501


def test_reading_matches_likelihood_reading(stories_lm) -> None:  # type: ignore[no-untyped-def]
    read = read_linear(stories_lm, ITEMS, layers=[1, 2], chat_template=False)
    exact = likelihood_reading(stories_lm, ITEMS, chat_template=False).numpy()
    # the same computation (situation once, answers through its KV cache); the hooked zero
    # offsets change the float32 kernels' order, so equal to rounding, not bit for bit
    np.testing.assert_allclose(read.reading, exact, atol=1e-5)
    # the weights keep their requires_grad flags after the read
    assert all(p.requires_grad for p in stories_lm.model.parameters())


def test_gradient_agrees_with_finite_differences(stories_lm) -> None:  # type: ignore[no-untyped-def]
    layers = [1, 3]
    read = read_linear(stories_lm, ITEMS, layers=layers, chat_template=False)
    neurons = read.gradient.numel() // len(layers)
    base = likelihood_reading(stories_lm, ITEMS, chat_template=False).numpy().mean()
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        vector = torch.randn(read.gradient.numel(), generator=generator, dtype=torch.float64)
        flat = torch.arange(vector.numel())
        eps = 1e-2
        plus = vector_edit(layers, neurons, flat, vector, gamma=eps)
        minus = vector_edit(layers, neurons, flat, vector, gamma=-eps)
        up = likelihood_reading(stories_lm, ITEMS, edit=plus, chat_template=False).numpy().mean()
        down = likelihood_reading(stories_lm, ITEMS, edit=minus, chat_template=False).numpy().mean()
        central = (up - down) / (2 * eps)
        assert read.shift(vector) == pytest.approx(central, rel=2e-2, abs=1e-4)
        assert abs(up - base) > 0  # the edit does something


def test_biased_reading_equals_a_hooked_bias(stories_lm) -> None:  # type: ignore[no-untyped-def]
    vocab = stories_lm.model.get_output_embeddings().weight.shape[0]
    bias = torch.randn(vocab, generator=torch.Generator().manual_seed(1))
    read = read_linear(
        stories_lm, ITEMS, layers=[0], biases={"up": 0.5 * bias}, chat_template=False
    )
    hooked = likelihood_reading(
        stories_lm, ITEMS, edit=LogitBias(bias, gamma=0.5), chat_template=False
    ).numpy()
    np.testing.assert_allclose(read.biased["up"], hooked, atol=1e-5)


def test_vector_edit_places_values_per_layer() -> None:
    edit = vector_edit([4, 7], 3, torch.tensor([5, 0, 3]), torch.tensor([1.0, 2.0, 3.0]))
    assert {k: v.tolist() for k, v in edit.indices.items()} == {4: [0], 7: [0, 2]}
    assert {k: v.tolist() for k, v in edit.deltas.items()} == {4: [2.0], 7: [3.0, 1.0]}
    assert agreement(1.0, 2.0)["ratio"] == 0.5
    assert agreement(1.0, 0.0)["ratio"] is None


def test_a_zero_bias_reads_bit_identical_to_no_bias(stories_lm) -> None:  # type: ignore[no-untyped-def]
    vocab = stories_lm.model.get_output_embeddings().weight.shape[0]
    read = read_linear(
        stories_lm, ITEMS, layers=[0], biases={"zero": torch.zeros(vocab)}, chat_template=False
    )
    assert np.array_equal(read.biased["zero"], read.reading)


def test_the_choice_reading_and_its_gradient(stories_lm) -> None:  # type: ignore[no-untyped-def]
    from valuelocate.comparison.forced_choice import choice_reading

    layers = [2]
    read = read_linear(stories_lm, ITEMS, layers=layers, chat_template=False, reading="choice")
    exact = choice_reading(stories_lm, ITEMS, chat_template=False).numpy()
    np.testing.assert_allclose(read.reading, exact, atol=1e-6)
    neurons = read.gradient.numel()
    vector = torch.randn(neurons, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    eps = 1e-2
    flat = torch.arange(neurons)
    up, down = (
        choice_reading(
            stories_lm,
            ITEMS,
            edit=vector_edit(layers, neurons, flat, vector, gamma=g),
            chat_template=False,
        )
        .numpy()
        .mean()
        for g in (eps, -eps)
    )
    assert read.shift(vector) == pytest.approx((up - down) / (2 * eps), rel=2e-2, abs=1e-6)
    with pytest.raises(ValueError, match="reading"):
        read_linear(stories_lm, ITEMS, layers=layers, reading="letters")


@pytest.mark.parametrize("reading", ["likelihood", "choice"])
def test_the_head_read_equals_reading_the_first_items_alone(stories_lm, reading) -> None:  # type: ignore[no-untyped-def]
    items = [*ITEMS, *ITEMS[::-1], ITEMS[0]]  # 7 items
    layers = [1, 2]
    kw = {"reading": reading, "batch_size": 2, "chat_template": False}
    whole = read_linear(stories_lm, items, layers, head=3, **kw)
    alone = read_linear(stories_lm, items[:3], layers, **kw)
    rest = read_linear(stories_lm, items, layers, **kw)
    head = whole.head(3)
    assert np.allclose(head.reading, alone.reading, atol=1e-6)
    assert head.gradient is not None
    # equal to float32 rounding (the batches are laid out differently around the head)
    scale = 1e-4 * float(rest.gradient.abs().max())
    assert torch.allclose(head.gradient, alone.gradient, rtol=1e-3, atol=scale)
    assert torch.allclose(whole.gradient, rest.gradient, rtol=1e-3, atol=scale)
    assert not torch.allclose(head.gradient, whole.gradient, rtol=1e-2)
    with pytest.raises(ValueError, match="head"):
        rest.head(3)
