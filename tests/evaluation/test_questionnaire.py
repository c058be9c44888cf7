"""`valuelocate.evaluation.questionnaire` on the real 260k-parameter Llama: option tokens,
the questionnaire against a by-hand oracle, and a planted edit whose effect is known."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from conftest import needs_stories
from valuelocate.data import load_questionnaire
from valuelocate.evaluation.questionnaire import (
    OPTION_LETTERS,
    centred_scores,
    common_prefix_length,
    expected_score,
    option_probabilities,
    option_token_ids,
    questionnaire_scores,
    questionnaire_text,
)
from valuelocate.hooks import NeuronEdit, edit_neurons
from valuelocate.models import ModelLoadError, default_model_dir
from valuelocate.prompting import format_prompts

from tiny_models import STORIES

EDIT = NeuronEdit({1: [3, 40, 100], 3: [7]}, lambda a: a + 2.0)


def _check_options(tokenizer) -> None:  # type: ignore[no-untyped-def]
    options = option_token_ids(tokenizer)
    assert len(options.ids) == 6 and all(options.ids)
    for letter, ids in zip(OPTION_LETTERS, options.ids, strict=True):
        for token_id in ids:
            assert tokenizer.decode([token_id]).strip() == letter
    flat = [i for ids in options.ids for i in ids]
    assert len(flat) == len(set(flat)), "no token counts for two options"


@needs_stories
def test_option_tokens_of_the_sentencepiece_tokenizer() -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(STORIES))
    options = option_token_ids(tokenizer)
    # '▁B' exists but '▁A' does not: the spaced spelling is not used for any letter.
    assert options.variants == ("bare",)
    _check_options(tokenizer)


def test_option_tokens_of_the_embedded_model() -> None:
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(default_model_dir()))
    except ModelLoadError as exc:
        pytest.skip(str(exc))
    options = option_token_ids(tokenizer)
    assert options.variants == ("bare", "spaced")
    assert all(len(ids) == 2 for ids in options.ids)
    _check_options(tokenizer)


def _manual_scores(lm, items, edit=None) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """One unpadded forward per item, probabilities read by hand."""
    options = option_token_ids(lm.tokenizer)
    texts = format_prompts(lm.tokenizer, [questionnaire_text(i.text, chat=False) for i in items])
    out = []
    for text in texts:
        ids = lm.tokenizer(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            if edit is None:
                logits = lm.model(input_ids=ids).logits[0, -1]
            else:
                with edit_neurons(lm.model, edit, scope="all"):
                    logits = lm.model(input_ids=ids).logits[0, -1]
        probs = torch.softmax(logits.double(), -1)
        six = torch.stack([probs[list(ids_)].sum() for ids_ in options.ids])
        six = six / six.sum()
        out.append(float(sum((k + 1) * six[k] for k in range(6))))
    return torch.tensor(out, dtype=torch.float64)


@needs_stories
@pytest.mark.parametrize("share_prefix", [True, False])
@pytest.mark.parametrize("edit", [None, EDIT], ids=["none", "edit"])
def test_questionnaire_equals_manual_computation(stories_lm, share_prefix, edit) -> None:  # type: ignore[no-untyped-def]
    items = load_questionnaire()[:3]
    options = option_token_ids(stories_lm.tokenizer)
    scores, mass = questionnaire_scores(
        stories_lm, items, options=options, edit=edit, batch_size=3, share_prefix=share_prefix
    )
    torch.testing.assert_close(scores, _manual_scores(stories_lm, items, edit), rtol=0, atol=1e-4)
    assert scores.shape == (3,) and bool(((scores >= 1) & (scores <= 6)).all())
    assert bool(((mass > 0) & (mass <= 1)).all())


def _limit_scores(lm, letters: list[int], layer: int) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """By hand, for each neuron j of ``layer`` (the last): the expected answer when a huge
    push ``c`` is added to j at the down projection's input. The residual stream is then
    dominated by ``c * W_down[:, j]``, so after the final RMSNorm it is ``g * w / rms(w)``,
    and the six letters' logits are the tied unembedding of that vector. ``[neurons]``."""
    model = lm.model
    w = model.model.layers[layer].mlp.down_proj.weight.detach().double()  # [hidden, neurons]
    g = model.model.norm.weight.detach().double()  # [hidden]
    unembed = model.lm_head.weight.detach().double()[letters]  # [6, hidden]
    normalised = w / w.pow(2).mean(0).sqrt()  # [hidden, neurons]
    logits = unembed @ (g[:, None] * normalised)  # [6, neurons]
    return expected_score(torch.softmax(logits.T, dim=-1))


@needs_stories
def test_the_edit_moves_the_questionnaire(stories_lm) -> None:  # type: ignore[no-untyped-def]
    """A planted edit: pushing the last layer's neuron whose down column spells the highest
    letter raises every item's score to the hand-computed limit (about 5.88), and the one
    that spells the lowest lowers it to its limit (about 1.03)."""
    items = load_questionnaire()[:4]
    options = option_token_ids(stories_lm.tokenizer)
    assert all(len(ids) == 1 for ids in options.ids)  # one token per letter on this tokenizer
    letters = [ids[0] for ids in options.ids]
    last = stories_lm.model.config.num_hidden_layers - 1
    limits = _limit_scores(stories_lm, letters, last)
    up, down = int(limits.argmax()), int(limits.argmin())
    assert limits[up] > 5.5 and limits[down] < 1.5, "the model has neurons that spell F and A"

    plain, _ = questionnaire_scores(stories_lm, items, options=options)
    assert bool(((plain > 2.5) & (plain < 4.0)).all()), "unedited: near the middle"

    def pushed(neuron: int) -> torch.Tensor:
        edit = NeuronEdit({last: [neuron]}, lambda a: a + 1000.0, site="down_in")
        scores, _ = questionnaire_scores(stories_lm, items, options=options, edit=edit)
        return scores

    raised, lowered = pushed(up), pushed(down)
    assert bool((raised > plain + 2.0).all()) and bool((lowered < plain - 1.5).all())
    torch.testing.assert_close(raised, limits[up].expand(4), rtol=0, atol=5e-3)
    torch.testing.assert_close(lowered, limits[down].expand(4), rtol=0, atol=5e-3)


def test_expected_and_centred_scores_by_hand() -> None:
    probs = torch.tensor([[1.0, 0, 0, 0, 0, 0], [0, 0, 0.5, 0.5, 0, 0]], dtype=torch.float64)
    assert expected_score(probs).tolist() == [1.0, 3.5]
    items = load_questionnaire()
    scores = torch.arange(len(items), dtype=torch.float64)
    mine = [i for i, item in enumerate(items) if "conservation" in item.dimensions]
    centred = centred_scores(scores, items, "conservation")
    assert centred.tolist() == [i - (len(items) - 1) / 2 for i in mine]


def test_option_probabilities_renormalise_over_the_six_letters() -> None:
    from valuelocate.evaluation.questionnaire import OptionTokens

    options = OptionTokens(ids=((0,), (1,), (2,), (3,), (4,), (5, 6)), variants=("bare",))
    logits = torch.zeros(1, 10)  # uniform over 10 tokens: each letter 0.1, F holds two
    probs, mass = option_probabilities(logits, options)
    torch.testing.assert_close(mass, torch.tensor([0.7], dtype=torch.float64))
    expected = torch.tensor([[1, 1, 1, 1, 1, 2]], dtype=torch.float64) / 7
    torch.testing.assert_close(probs, expected)


def test_questionnaire_text_and_common_prefix() -> None:
    chat = questionnaire_text("  Likes order. ", prefix="P: ")
    assert chat.startswith("P: Below is") and chat.endswith('Description: "Likes order."')
    assert "A) " in chat and "F) " in chat
    assert questionnaire_text("x", chat=False).endswith("\nAnswer:")
    assert common_prefix_length([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    # Every row keeps at least one token of its own.
    assert common_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
