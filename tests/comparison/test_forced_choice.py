"""The forced-choice instrument: readings against brute-force recomputations, summaries
against hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forced_choice_items import Item
from valuelocate.comparison.answers import continuation_logprob
from valuelocate.comparison.forced_choice import (
    choice_reading,
    letter_ids,
    likelihood_reading,
    summarize_shift,
)
from valuelocate.evaluation.statistics import paired_permutation_pvalue as paired_pvalue
from valuelocate.models import load_model
from valuelocate.prompting import answer_ids, context_ids
from valuelocate.steering.mean_diff import band_edit
from valuelocate.steering.simple import set_value_edit

from tiny_models import STORIES

needs_stories = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")


ITEMS = [
    Item(
        "a",
        "conservation",
        "Once upon a time a girl found a box.",
        "She kept it safe.",
        "She opened it at once and ran off with it.",
    ),
    Item("b", "conservation", "The dog saw the park.", "He stayed home.", "He ran to play."),
    Item(
        "c",
        "conservation",
        "Tom had a red ball and a big blue kite by the sea.",
        "He gave it to Mom.",
        "He threw it far.",
    ),
]


@pytest.fixture(scope="module")
def stories():
    return load_model(str(STORIES))


def brute_force(lm, context: list[int], answer: list[int]) -> float:
    """One unpadded forward; mean log-probability of the answer tokens."""
    ids = torch.tensor([context + answer])
    with torch.no_grad():
        logp = torch.log_softmax(lm.model(input_ids=ids).logits[0].double(), dim=-1)
    n = len(answer)
    start = len(context)
    return float(sum(logp[start - 1 + t, answer[t]] for t in range(n)) / n)


@needs_stories
def test_likelihood_reading_equals_brute_force(stories):
    got = likelihood_reading(stories, ITEMS, batch_size=2)
    for i, item in enumerate(ITEMS):
        context = context_ids(stories, item.situation)
        plus = brute_force(stories, context, answer_ids(stories, item.affirm))
        minus = brute_force(stories, context, answer_ids(stories, item.oppose))
        assert got[i].item() == pytest.approx(plus - minus, abs=1e-4)
    plain = continuation_logprob(
        stories,
        [(context_ids(stories, it.situation), answer_ids(stories, it.affirm)) for it in ITEMS],
    )
    for i, item in enumerate(ITEMS):
        expected = brute_force(
            stories, context_ids(stories, item.situation), answer_ids(stories, item.affirm)
        )
        assert plain[i].item() == pytest.approx(expected, abs=1e-4)


@needs_stories
def test_prefix_and_edit_change_the_reading_and_gamma_zero_does_not(stories):
    base = likelihood_reading(stories, ITEMS)
    diff = torch.ones(
        stories.model.config.num_hidden_layers, stories.model.config.intermediate_size
    )
    zero = likelihood_reading(stories, ITEMS, edit=band_edit(diff, [0, 1], gamma=0.0))
    assert torch.equal(zero, base)  # bit-identical
    moved = likelihood_reading(stories, ITEMS, edit=set_value_edit({0: list(range(20))}, 3.0))
    assert not torch.allclose(moved, base)
    prefixed = likelihood_reading(stories, ITEMS, prefix="The sun was hot. ")
    assert not torch.allclose(prefixed, base)


@needs_stories
def test_choice_reading_is_the_order_average_of_letter_probabilities(stories):
    got = choice_reading(stories, ITEMS[:1])
    a_id, b_id = letter_ids(stories)
    from valuelocate.comparison.forced_choice import CHOICE_TEMPLATE

    item = ITEMS[0]
    probs = []
    for first, second in ((item.affirm, item.oppose), (item.oppose, item.affirm)):
        text = CHOICE_TEMPLATE.format(situation=item.situation, first=first, second=second)
        ids = torch.tensor([context_ids(stories, text)])
        with torch.no_grad():
            logits = stories.model(input_ids=ids).logits[0, -1, [a_id, b_id]].double()
        probs.append(torch.softmax(logits, -1)[0].item())
    assert got[0].item() == pytest.approx((probs[0] + 1 - probs[1]) / 2, abs=1e-5)
    assert 0.0 <= got[0].item() <= 1.0


def test_summary_hand_worked():
    shift = np.array([0.3, 0.1, -0.1, 0.5])
    s = summarize_shift(shift, toward="affirm", control=np.zeros(4))
    assert s.shift == pytest.approx(0.2)
    assert s.wrong_way == pytest.approx(0.25)
    assert s.ci_low < 0.2 < s.ci_high
    assert s.control_shift == 0.0
    # 4 pairs: 16 sign patterns; |mean| >= 0.2 for patterns ... exact p from enumeration
    d = shift
    patterns = np.array([[1 if (k >> j) & 1 else -1 for j in range(4)] for k in range(16)])
    exact = float((np.abs((patterns * d).mean(1)) >= 0.2 - 1e-12).mean())
    assert s.p_control == pytest.approx(exact, abs=0.02)
    toward_oppose = summarize_shift(shift, toward="oppose")
    assert toward_oppose.wrong_way == pytest.approx(0.75)
    assert np.isnan(toward_oppose.p_control)


def test_paired_pvalue_small_for_a_clear_difference_and_one_for_none():
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 0.2, 30)
    b = rng.normal(0.0, 0.2, 30)
    assert paired_pvalue(a, b) < 0.001
    assert paired_pvalue(a, a) == 1.0
