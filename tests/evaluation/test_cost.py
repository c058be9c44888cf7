"""`valuelocate.evaluation.cost`: neutral-text perplexity against a by-hand computation, and
the degenerate-answer rule."""

from __future__ import annotations

import pytest
import torch

from conftest import needs_stories
from valuelocate.data.neutral import load_neutral_texts
from valuelocate.evaluation.cost import distinct_n, is_degenerate, text_nll
from valuelocate.hooks import NeuronEdit, edit_neurons

EDIT = NeuronEdit({1: [3, 40, 100], 3: [7]}, lambda a: a + 2.0)


@needs_stories
@pytest.mark.parametrize("edit", [None, EDIT], ids=["none", "edit"])
def test_text_nll_equals_manual_computation(stories_lm, edit) -> None:  # type: ignore[no-untyped-def]
    lm = stories_lm
    texts = ["The cat sat on the mat.", "Once upon a time there was a big red ball.", "Hi."]
    got = text_nll(lm, texts, edit=edit, batch_size=2)
    assert got.dtype == torch.float64 and got.shape == (3,)
    for text, value in zip(texts, got.tolist(), strict=True):
        ids = lm.tokenizer(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            if edit is None:
                logits = lm.model(input_ids=ids).logits[0, :-1].double()
            else:
                with edit_neurons(lm.model, edit, scope="all"):
                    logits = lm.model(input_ids=ids).logits[0, :-1].double()
        nll = torch.nn.functional.cross_entropy(logits, ids[0, 1:])
        assert value == pytest.approx(float(nll), abs=1e-4)
    assert text_nll(lm, []).numel() == 0


def test_degenerate_answers() -> None:
    assert is_degenerate("")
    assert is_degenerate("I think that " * 8)
    assert is_degenerate("no no no no I would not")
    assert is_degenerate("Yes" + "!" * 20)
    assert not is_degenerate("I would talk to my family first and then decide together.")
    assert not is_degenerate("No, no, no.")
    assert distinct_n(["a", "b", "a", "b", "a", "b"], 2) == pytest.approx(2 / 5)


def test_degenerate_rule_thresholds_are_options() -> None:
    assert not is_degenerate("no no no no", max_word_run=4, min_distinct2=0.0)
    assert is_degenerate("no no no no", max_word_run=4)  # the loop rule still holds
    assert is_degenerate("no no no", max_word_run=2)
    assert not is_degenerate("a" * 13, max_char_run=13)
    assert distinct_n(["a"], 2) == 1.0  # no bigram


def test_neutral_texts_are_shipped() -> None:
    texts = load_neutral_texts()
    assert len(texts) == 22 and all(t.strip() for t in texts)
    assert len(set(texts)) == len(texts)
