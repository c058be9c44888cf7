"""Answers scored with a shared prefix equal the plain computation (values and gradients)."""

from __future__ import annotations

import pytest
import torch
from tests.forced_choice_items import Item

from valuelocate.comparison.answers import (
    MIN_SHARED_PREFIX,
    answer_logits,
    same_every_call,
    shared_prefix,
)
from valuelocate.comparison.forced_choice import likelihood_reading
from valuelocate.comparison.linear import _Offset
from valuelocate.hooks import edit_neurons
from valuelocate.prompting import answer_ids, context_ids
from valuelocate.steering.dynamic import DynamicEdit
from valuelocate.steering.mean_diff import band_edit

ITEMS = [  # noqa: E501
    Item("a", "conservation", "Once upon a time there was a little dog.", "He was happy.", "She ran away."),  # noqa: E501
    Item("b", "conservation", "Lily went to the park with her mom.", "They played ball.", "It was dark and cold."),  # noqa: E501
    Item("c", "conservation", "Tom had a red ball.", "He gave it to Sue.", "He lost it."),  # noqa: E501
    Item("d", "conservation", "The cat sat.", "It slept.", "It jumped over the big wall."),  # noqa: E501
]  # fmt: skip  # noqa: E501
# a persona line every item shares: the shared-prefix path runs (at least 8 tokens)
PERSONA = "Imagine you are a kind old man who lives by the sea and loves his little boat. "


def test_shared_prefix_by_hand() -> None:
    assert shared_prefix([[1, 2, 3, 4], [1, 2, 5]]) == 2
    assert shared_prefix([[1, 2, 3], [1, 2, 3, 4]]) == 2  # each keeps one token of its own
    assert shared_prefix([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_prefix([[7, 1], [8, 1]]) == 0
    assert shared_prefix([[1, 2, 3]]) == 0  # one context: nothing to share


def _brute(lm, item: Item, answer: str, edit=None) -> float:  # type: ignore[no-untyped-def]
    """One unpadded forward of context + answer; the answer's mean log-probability."""
    context = context_ids(lm, PERSONA + item.situation, chat_template=False)
    tokens = answer_ids(lm, answer, chat_template=False)
    ids = torch.tensor([context + tokens])
    with torch.no_grad():
        if edit is None:
            logits = lm.model(input_ids=ids).logits[0]
        else:
            with edit_neurons(lm.model, edit, scope="all"):
                logits = lm.model(input_ids=ids).logits[0]
    logp = torch.log_softmax(logits.double(), dim=-1)
    start = len(context)
    return float(sum(logp[start - 1 + t, tokens[t]] for t in range(len(tokens))) / len(tokens))


def _calls(lm):  # type: ignore[no-untyped-def]
    """A counter of the model's forward calls (a pre-hook; remove it after)."""
    count = [0]
    handle = lm.model.register_forward_pre_hook(lambda *_: count.__setitem__(0, count[0] + 1))
    return count, handle


@pytest.mark.parametrize("with_edit", [False, True])
def test_shared_prefix_reading_equals_brute_force(stories_lm, with_edit: bool) -> None:  # type: ignore[no-untyped-def]
    contexts = [context_ids(stories_lm, PERSONA + i.situation, chat_template=False) for i in ITEMS]
    assert shared_prefix(contexts) >= MIN_SHARED_PREFIX
    config = stories_lm.model.config
    edit = (
        band_edit(torch.randn(config.num_hidden_layers, config.intermediate_size,
                              generator=torch.Generator().manual_seed(0)), [1, 3], gamma=0.5)
        if with_edit else None
    )  # fmt: skip
    count, handle = _calls(stories_lm)
    try:
        got = likelihood_reading(
            stories_lm, ITEMS, prefix=PERSONA, chat_template=False, edit=edit, batch_size=2
        )
    finally:
        handle.remove()
    # the shared prefix once for the read, then per batch of two: their own tokens, the answers
    assert count[0] == 1 + 2 * 2
    for k, item in enumerate(ITEMS):
        expected = _brute(stories_lm, item, item.affirm, edit) - _brute(
            stories_lm, item, item.oppose, edit
        )
        assert got[k].item() == pytest.approx(expected, abs=1e-4)


def test_shared_prefix_gradient_equals_the_unshared_one(stories_lm) -> None:  # type: ignore[no-untyped-def]
    contexts = [context_ids(stories_lm, PERSONA + i.situation, chat_template=False) for i in ITEMS]
    answers = [
        [answer_ids(stories_lm, i.affirm, chat_template=False),
         answer_ids(stories_lm, i.oppose, chat_template=False)]
        for i in ITEMS
    ]  # fmt: skip
    neurons = stories_lm.model.config.intermediate_size
    results = []
    for share in (False, True):
        offset = torch.zeros(neurons, requires_grad=True)
        with edit_neurons(stories_lm.model, _Offset({2: offset}), scope="all"):
            means = answer_logits(stories_lm, contexts, answers, share_prefix=share).means()
        (means[:, 0] - means[:, 1]).sum().backward()
        assert offset.grad is not None
        results.append((means.detach(), offset.grad.clone()))
    torch.testing.assert_close(results[1][0], results[0][0], atol=1e-5, rtol=0)
    torch.testing.assert_close(results[1][1], results[0][1], atol=1e-5, rtol=1e-4)
    assert results[0][1].abs().max() > 0


def test_only_edits_the_same_at_every_call_share_a_prefix(stories_lm) -> None:  # type: ignore[no-untyped-def]
    config = stories_lm.model.config
    assert same_every_call(None)
    assert same_every_call(band_edit(torch.ones(config.num_hidden_layers, 4), [1], gamma=1.0))
    dynamic = DynamicEdit(plans={}, gamma=1.0)
    assert not same_every_call(dynamic)
