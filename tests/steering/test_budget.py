"""Strength at matched cost: the bisection on planted costs, and the neutral-text cost."""

from __future__ import annotations

import math

import pytest
import torch

from valuelocate.data.neutral import load_neutral_texts
from valuelocate.evaluation.cost import text_nll
from valuelocate.models import load_model
from valuelocate.steering.budget import Budget, NeutralCost, find_gamma
from valuelocate.steering.simple import set_value_edit

from tiny_models import STORIES

needs_stories = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")


def test_bisection_finds_the_gamma_of_a_monotone_planted_cost():
    calls = []

    def cost(g: float) -> float:
        calls.append(g)
        return 1.0 + 0.01 * g * g

    found = find_gamma(cost, budget=1.10, steps=12)
    assert found.reached
    assert found.cost <= 1.10
    assert found.gamma == pytest.approx(math.sqrt(10.0), abs=4 / 2**12 + 1e-9)
    assert len(found.evaluations) == len(calls)


def test_bisection_reports_a_budget_never_reached():
    found = find_gamma(lambda g: 1.0, budget=1.10, max_gamma=8.0)
    assert not found.reached
    assert found.gamma == 8.0
    low = find_gamma(lambda g: 2.0, budget=1.10)
    assert low.reached and low.gamma == 0.0 and low.cost == 1.0


@needs_stories
def test_neutral_cost_matches_text_nll_and_kl_is_zero_without_edit():
    lm = load_model(str(STORIES))
    texts = load_neutral_texts()[:4]
    edit = set_value_edit({1: list(range(40))}, 1.5)
    ppl = NeutralCost(lm, texts=texts)
    assert ppl(None) == pytest.approx(1.0, abs=1e-12)
    expected = math.exp(float(text_nll(lm, texts, edit=edit).mean() - text_nll(lm, texts).mean()))
    assert ppl(edit) == pytest.approx(expected, rel=1e-4)
    kl = NeutralCost(lm, kind="kl", texts=texts)
    assert kl(None) == pytest.approx(0.0, abs=1e-9)
    assert kl(edit) > 0.0
    assert torch.isfinite(torch.tensor(kl(edit)))


def test_budget_specs_parse_and_bad_ones_name_the_flag():
    assert Budget.parse("ppl=1.10") == Budget("ppl", 1.10)
    assert Budget.parse("1.2") == Budget("ppl", 1.2)
    assert Budget.parse(" kl = 0.05 ") == Budget("kl", 0.05)
    assert str(Budget.parse("kl=0.05")) == "kl=0.05"
    for bad in ("ppl=0.9", "kl=0", "nll=2", "ppl=x", "", "ppl=nan"):
        with pytest.raises(ValueError, match="--budget"):
            Budget.parse(bad)


@needs_stories
@pytest.mark.parametrize("kind", ["ppl", "kl"])
def test_neutral_cost_in_padded_batches_equals_one_text_per_forward(kind):
    lm = load_model(str(STORIES))
    texts = load_neutral_texts()[:6]
    lengths = {len(lm.tokenizer(t)["input_ids"]) for t in texts}
    assert len(lengths) > 1  # the batch is padded
    edit = set_value_edit({1: list(range(40)), 3: list(range(10))}, 1.5)
    batched = NeutralCost(lm, kind=kind, texts=texts, batch_size=4)
    single = NeutralCost(lm, kind=kind, texts=texts, batch_size=1)
    for a, b in zip(batched._base, single._base, strict=True):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-4)
    assert batched(edit) == pytest.approx(single(edit), rel=1e-5, abs=1e-7)
    assert batched(None) == pytest.approx(batched.neutral_level, abs=1e-9)
