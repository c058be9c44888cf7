"""Turning text into model inputs: the locating template, chat formatting, and the token ids of
a forced-choice item's context and answers (:func:`context_ids`, :func:`answer_ids`).

The locating template pairs a value description (one pole's voice) with a situational
question, as in the study: "Below is a value and a question ... ### Value: ... ### Question:
... ### Response:". With a chat model the whole text is the user's turn and the assistant
answers; without a chat template (base models, as the study ran them) the raw text ends with
``### Response:`` and the model continues it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from valuelocate.models import LoadedModel

LOCATE_TEMPLATE = (
    "Below is a value and a question. Answer the question directly, in the first person, "
    "as someone who holds this value would. Do not mention the value itself.\n\n"
    "### Value:\n{description}\n\n### Question:\n{question}\n\n### Response:"
)


def locate_text(description: str, question: str) -> str:
    """The locating prompt for one (description, question) pair."""
    return LOCATE_TEMPLATE.format(description=description.strip(), question=question.strip())


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def format_prompts(tokenizer: Any, prompts: list[str], *, chat_template: bool = True) -> list[str]:
    """Each prompt as the model should see it: a user turn of the chat template when the
    tokenizer has one (and ``chat_template`` is on), else the raw text."""
    if not (chat_template and has_chat_template(tokenizer)):
        return list(prompts)
    return [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False
        )
        for p in prompts
    ]


def chat_inputs(tokenizer: Any, prompts: list[str], *, chat_template: bool = True) -> dict:
    """Tokenise prompts as a left-padded batch (``input_ids``, ``attention_mask``).

    A chat template already holds the special tokens, so none are added again; raw text gets
    the tokenizer's usual ones (e.g. BOS).
    """
    templated = chat_template and has_chat_template(tokenizer)
    texts = format_prompts(tokenizer, prompts, chat_template=chat_template)
    previous = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        return dict(
            tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=not templated)
        )
    finally:
        tokenizer.padding_side = previous


def stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """Token ids that end an answer: the generation config's EOS ids and the tokenizer's."""
    ids: set[int] = set()
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    elif isinstance(eos, list | tuple):
        ids.update(int(i) for i in eos)
    if getattr(tokenizer, "eos_token_id", None) is not None:
        ids.add(int(tokenizer.eos_token_id))
    return sorted(ids)


def token_lists(tokenizer: Any, texts: Sequence[str], chat_template: bool) -> list[list[int]]:
    """Token ids of each prompt exactly as :func:`chat_inputs` makes them, unpadded."""
    templated = chat_template and has_chat_template(tokenizer)
    formatted = format_prompts(tokenizer, list(texts), chat_template=chat_template)
    encoded = tokenizer(formatted, add_special_tokens=not templated)["input_ids"]
    return [list(map(int, ids)) for ids in encoded]


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """``(ids [b, s], mask [b, s])`` of token lists padded on the left."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
    return ids, mask


def pad_token_id(tokenizer: Any) -> int:
    """The tokenizer's padding id, or 0 when it has none (padding is masked anyway)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


# ------------------------------------------------------------------ forced-choice tokens

RAW_CUE = "\nAnswer:"


def uses_chat(lm: LoadedModel, chat_template: bool) -> bool:
    """Whether text goes through the chat template: asked for and the tokenizer has one."""
    return chat_template and has_chat_template(lm.tokenizer)


def context_ids(lm: LoadedModel, user: str, *, chat_template: bool = True) -> list[int]:
    """Token ids of the context an answer follows: the user's turn and the assistant's
    header (chat), or ``BOS + text + "\\nAnswer:"`` (raw)."""
    tokenizer = lm.tokenizer
    if uses_chat(lm, chat_template):
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": user}], add_generation_prompt=True, tokenize=False
        )
        return list(map(int, tokenizer(text, add_special_tokens=False)["input_ids"]))
    return list(map(int, tokenizer(user + RAW_CUE, add_special_tokens=True)["input_ids"]))


def answer_text(lm: LoadedModel, answer: str, *, chat_template: bool = True) -> str:
    """An answer's text as it follows its context (a leading space in raw text)."""
    return answer.strip() if uses_chat(lm, chat_template) else " " + answer.strip()


def answer_ids(lm: LoadedModel, answer: str, *, chat_template: bool = True) -> list[int]:
    """Token ids of an answer as it follows its context (:func:`answer_text`)."""
    text = answer_text(lm, answer, chat_template=chat_template)
    ids = list(map(int, lm.tokenizer(text, add_special_tokens=False)["input_ids"]))
    if not ids:
        raise ValueError(f"Answer {answer!r} has no token")
    return ids
