"""`valuelocate.prompting`: prompts as the model sees them, tokenised and padded."""

from __future__ import annotations

import torch

from conftest import needs_stories
from valuelocate.prompting import (
    chat_inputs,
    left_pad,
    locate_text,
    stop_token_ids,
    token_lists,
)


def test_left_pad() -> None:
    ids, mask = left_pad([[5, 6, 7], [8], []], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8], [0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1], [0, 0, 0]]


def test_locate_text_holds_description_and_question() -> None:
    text = locate_text("  I value tradition. ", " Should I move? ")
    assert "I value tradition.\n" in text and "Should I move?\n" in text
    assert text.endswith("### Response:")


@needs_stories
def test_token_lists_are_chat_inputs_unpadded(stories_lm) -> None:  # type: ignore[no-untyped-def]
    tokenizer = stories_lm.tokenizer
    prompts = ["Once upon a time", "Tom"]
    side = tokenizer.padding_side
    rows = token_lists(tokenizer, prompts, chat_template=True)
    batch = chat_inputs(tokenizer, prompts)
    assert tokenizer.padding_side == side, "the tokenizer is left as it was"
    ids, mask = left_pad(rows, tokenizer.pad_token_id or 0)
    assert torch.equal(batch["attention_mask"], mask)
    assert torch.equal(batch["input_ids"][mask.bool()], ids[mask.bool()])
    stops = stop_token_ids(stories_lm.model, tokenizer)
    assert tokenizer.eos_token_id in stops
