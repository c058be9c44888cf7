"""The word-priming control: the log-odds by hand, the logit bias it adds on stories260k (and
nothing at gamma 0), its permuted control, its hook's lifetime and its budget calibration."""

from __future__ import annotations

import math

import pytest
import torch

from valuelocate.data import load_neutral_texts
from valuelocate.hooks import count_hooks
from valuelocate.steering.budget import NeutralCost, find_gamma
from valuelocate.steering.intervention import applied
from valuelocate.steering.rules import Inputs, get_rule
from valuelocate.steering.word_priming import LogitBias, output_module, unigram_log_odds

from tiny_models import left_padded_batch

AFFIRM = ["She kept the old box safe.", "He stayed home with his mother."]
OPPOSE = ["She ran off to a new town.", "He went far away to play."]


class WordTokenizer:
    """One id per word: a = 0, b = 1, c = 2, d = 3 (a vocabulary of 4)."""

    ids = {"a": 0, "b": 1, "c": 2, "d": 3}

    def __len__(self) -> int:
        return len(self.ids)

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        assert add_special_tokens is False
        return {"input_ids": [self.ids[w] for w in text.split()]}


def test_log_odds_on_a_hand_worked_example() -> None:
    # affirm "a a b": counts (2, 1, 0, 0), N_a = 3; oppose "b c": counts (0, 1, 1, 0), N_o = 2;
    # alpha 1, V 4: log((c_a + 1) / 7) - log((c_o + 1) / 6).
    got = unigram_log_odds(WordTokenizer(), ["a a", "b"], ["b c"])
    expected = torch.tensor([math.log(18 / 7), math.log(6 / 7), math.log(3 / 7), math.log(6 / 7)])
    assert got.dtype == torch.float32 and got.shape == (4,)
    torch.testing.assert_close(got, expected)
    # A larger V (a padded output embedding) only changes the denominators.
    wide = unigram_log_odds(WordTokenizer(), ["a a b"], ["b c"], alpha=0.5, vocab_size=6)
    assert wide.shape == (6,)
    assert wide[0].item() == pytest.approx(math.log(2.5 / 6) - math.log(0.5 / 5))
    assert wide[5].item() == pytest.approx(math.log(5 / 6))  # unseen: log((N_o+aV)/(N_a+aV))
    with pytest.raises(ValueError, match="alpha"):
        unigram_log_odds(WordTokenizer(), ["a"], ["b"], alpha=0.0)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        unigram_log_odds(WordTokenizer(), ["d"], ["b"], vocab_size=3)


def _bias(lm) -> torch.Tensor:  # type: ignore[no-untyped-def]
    size = output_module(lm.model).weight.shape[0]
    return unigram_log_odds(lm.tokenizer, AFFIRM, OPPOSE, vocab_size=size)


def _logits(model, batch, edit=None) -> torch.Tensor:  # type: ignore[no-untyped-def]
    with torch.no_grad(), applied(model, edit):
        return model(**batch).logits


BATCH = left_padded_batch([[5, 6, 7, 8, 40], [9, 10, 11]])


def test_the_bias_on_stories_adds_gamma_sign_bias_at_every_position(stories_lm) -> None:  # type: ignore[no-untyped-def]
    model = stories_lm.model
    bias = _bias(stories_lm)
    assert bias.shape == (model.config.vocab_size,) and bias.abs().max() > 0
    head = output_module(model)
    hooks = count_hooks(model)
    plain = _logits(model, BATCH)
    # Gamma 0 installs nothing: the logits are bit-identical.
    with LogitBias(bias, 0.0).apply(model):
        assert count_hooks(model) == hooks
        assert torch.equal(_logits(model, BATCH), plain)
    for sign in (1, -1):
        prime = LogitBias(bias, 1.5, sign)
        with prime.apply(model):
            assert len(head._forward_hooks) == 1
            edited = _logits(model, BATCH)
        torch.testing.assert_close(edited, plain + sign * 1.5 * bias, rtol=0, atol=1e-5)
        assert count_hooks(model) == hooks and not head._forward_hooks
    # The hook goes also when the block raises.
    with pytest.raises(RuntimeError), LogitBias(bias, 2.0).apply(model):
        raise RuntimeError
    assert count_hooks(model) == hooks
    with pytest.raises(ValueError, match="entries"), LogitBias(bias[:10], 1.0).apply(model):
        _logits(model, BATCH)
    assert count_hooks(model) == hooks


def test_the_control_is_the_bias_permuted_by_its_seed() -> None:
    bias = torch.linspace(-2, 3, 97)
    prime = LogitBias(bias, 0.7, -1)
    control = prime.control(seed=3)
    assert (control.gamma, control.sign) == (0.7, -1)
    assert torch.equal(control.bias.sort().values, bias.sort().values)  # the same multiset
    assert not torch.equal(control.bias, bias)
    assert torch.equal(prime.control(seed=3).bias, control.bias)  # deterministic
    assert not torch.equal(prime.control(seed=4).bias, control.bias)
    assert prime.with_gamma(2).gamma == 2.0 and prime.with_gamma(2).bias is bias


def test_find_gamma_calibrates_it_to_the_perplexity_budget(stories_lm) -> None:  # type: ignore[no-untyped-def]
    prime = LogitBias(_bias(stories_lm), 1.0, -1)
    cost = NeutralCost(stories_lm, kind="ppl", texts=load_neutral_texts()[:4])
    found = find_gamma(lambda g: cost(prime.with_gamma(g)), budget=1.10, steps=3)
    assert found.reached and 0 < found.gamma < 64
    assert found.cost <= 1.10
    assert cost(prime.with_gamma(found.gamma)) == pytest.approx(found.cost)
    # Past the budget just above the gamma found (the bisection's bracket).
    above = min(g for g, c in found.evaluations if c > 1.10)
    assert above > found.gamma and cost(prime.with_gamma(above)) > 1.10
    assert cost(prime.with_gamma(0.0)) == pytest.approx(1.0)


def test_the_registry_builds_the_rule(stories_lm) -> None:  # type: ignore[no-untyped-def]
    rule = get_rule("word-priming")
    assert rule.needs == frozenset({"answer_log_odds"})
    assert rule.missing(Inputs()) is not None
    with pytest.raises(ValueError, match="log-odds"):
        rule.factories(Inputs(), "affirm")
    bias = _bias(stories_lm)
    inputs = Inputs(answer_log_odds=bias, seed=5)
    assert rule.missing(inputs) is None
    plain = _logits(stories_lm.model, BATCH)
    for pole, sign in (("affirm", 1), ("oppose", -1)):
        built = rule.factories(inputs, pole)
        edit, control = built.edit(0.5), built.control(0.5)
        assert isinstance(edit, LogitBias) and isinstance(control, LogitBias)
        assert (edit.gamma, edit.sign, control.sign) == (0.5, sign, sign)
        assert built.neurons == bias.numel()
        assert torch.equal(control.bias, LogitBias(bias).control(seed=5).bias)
        torch.testing.assert_close(
            _logits(stories_lm.model, BATCH, edit), plain + sign * 0.5 * bias, rtol=0, atol=1e-5
        )
    with pytest.raises(ValueError, match="did you mean 'word-priming'"):
        get_rule("word-priming-x")
