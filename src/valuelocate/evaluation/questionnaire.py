"""The portrait questionnaire: the expected 1..6 answer of each item, read from the
next-token probabilities of the six option letters (no sampling, no parsing failures).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from valuelocate.data import ANSWER_SCALE, QuestionnaireItem
from valuelocate.forward import cache_argument, forward_logits, last_logits, output_cache
from valuelocate.generation import edited
from valuelocate.hooks import Edit
from valuelocate.models import LoadedModel
from valuelocate.prompting import has_chat_template, left_pad, pad_token_id, token_lists

OPTION_LETTERS = "ABCDEF"
QUESTIONNAIRE_TEMPLATE = (
    "Below is a short description of a person. How much is this person like you?\n"
    "{options}\n"
    "Answer with one letter.\n\n"
    'Description: "{item}"'
)
# The item comes last, so that all items share a long common beginning: its keys and values
# are computed once per condition and reused (see next_token_logits).
# Appended to the questionnaire prompt when there is no chat template, so that a base model's
# next token is the letter.
RAW_ANSWER_CUE = "\nAnswer:"


def questionnaire_text(item: str, *, prefix: str = "", chat: bool = True) -> str:
    """The prompt of one portrait item, options labelled A-F.

    Args:
        item: the portrait text.
        prefix: a prompt-baseline prefix ("Imagine you are someone who ..."), or empty.
        chat: the prompt goes into a chat template (else it ends with ``Answer:``).

    Returns:
        The prompt text.
    """
    options = "\n".join(
        f"{letter}) {label}" for letter, label in zip(OPTION_LETTERS, ANSWER_SCALE, strict=True)
    )
    text = QUESTIONNAIRE_TEMPLATE.format(item=item.strip(), options=options)
    if not chat:
        text += RAW_ANSWER_CUE
    return prefix + text


@dataclass(frozen=True)
class OptionTokens:
    """The token ids that spell each answer letter as one token.

    Attributes:
        ids: per option A..F, the ids whose next-token probabilities are summed, ``[6][v]``.
        variants: which spellings are used: ``bare`` (``A``) and/or ``spaced`` (``" A"``,
            ``▁A``, ``ĠA``). A spelling is used only when all six letters have it as a single
            token, so every option is read the same way.
    """

    ids: tuple[tuple[int, ...], ...]
    variants: tuple[str, ...]


_SPACE_MARKS = ("▁", "Ġ", " ")


def option_token_ids(tokenizer: Any) -> OptionTokens:
    """Find the single tokens of the six answer letters, with and without a leading space.

    Candidates come from the vocabulary (``A``, ``▁A``, ``ĠA``) and from encoding ``"A"`` and
    ``" A"`` (tokenizers that add a leading space themselves); a candidate counts only if it
    is one known token (not the unknown token) whose text is the letter, alone or after one
    space mark.

    Args:
        tokenizer: a transformers tokenizer.

    Returns:
        The :class:`OptionTokens`.

    Raises:
        ValueError: some letter is not a single token in any spelling.

    Example:
        >>> option_token_ids(tokenizer).variants
        ('bare', 'spaced')
    """
    unk = getattr(tokenizer, "unk_token_id", None)
    found: dict[str, list[set[int]]] = {"bare": [], "spaced": []}
    for letter in OPTION_LETTERS:
        candidates: set[int] = set()
        for token in (letter, *(mark + letter for mark in _SPACE_MARKS)):
            token_id = tokenizer.convert_tokens_to_ids(token)
            if isinstance(token_id, int) and token_id != unk:
                candidates.add(token_id)
        for text in (letter, " " + letter):
            encoded = tokenizer.encode(text, add_special_tokens=False)
            if len(encoded) == 1 and encoded[0] != unk:
                candidates.add(int(encoded[0]))
        by_kind: dict[str, set[int]] = {"bare": set(), "spaced": set()}
        for token_id in candidates:
            token = tokenizer.convert_ids_to_tokens(token_id)
            if not isinstance(token, str):
                continue
            if token == letter:
                by_kind["bare"].add(token_id)
            elif len(token) == 2 and token[0] in _SPACE_MARKS and token[1] == letter:
                by_kind["spaced"].add(token_id)
        for kind, kind_ids in by_kind.items():
            found[kind].append(kind_ids)
    variants = tuple(kind for kind, per_letter in found.items() if all(per_letter))
    if not variants:
        raise ValueError(
            "The tokenizer has no single token for every answer letter A-F (with or without a "
            "leading space); the questionnaire cannot be read from next-token probabilities."
        )
    ids = tuple(
        tuple(sorted(set().union(*(found[kind][i] for kind in variants))))
        for i in range(len(OPTION_LETTERS))
    )
    return OptionTokens(ids=ids, variants=variants)


def option_probabilities(logits: Tensor, options: OptionTokens) -> tuple[Tensor, Tensor]:
    """Probabilities of the six options from next-token logits.

    Args:
        logits: ``[batch, vocab]`` next-token logits.
        options: the letters' token ids.

    Returns:
        ``(probs [batch, 6], mass [batch])``: the options' probabilities renormalised over
        the six, and the share of the full distribution that they held before.
    """
    full = torch.softmax(logits.double(), dim=-1)  # [batch, vocab]
    per_option = torch.stack(
        [full[:, list(ids)].sum(dim=-1) for ids in options.ids], dim=-1
    )  # [batch, 6]
    mass = per_option.sum(dim=-1)  # [batch]
    return per_option / mass.clamp(min=1e-300).unsqueeze(-1), mass


def expected_score(probs: Tensor) -> Tensor:
    """Expected answer on the 1..6 scale, ``[batch]``, from option probabilities ``[batch, 6]``."""
    scale = torch.arange(1, probs.shape[-1] + 1, dtype=probs.dtype, device=probs.device)
    return probs @ scale


def common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix shared by every row, leaving each row at least one
    token of its own."""
    shortest = min(len(r) for r in rows)
    length = 0
    while length < shortest - 1 and all(r[length] == rows[0][length] for r in rows):
        length += 1
    return length


def next_token_logits(
    lm: LoadedModel,
    texts: Sequence[str],
    *,
    edit: Edit | None = None,
    batch_size: int = 40,
    chat_template: bool = True,
    share_prefix: bool = True,
    min_shared: int = 8,
) -> Tensor:
    """Next-token logits after each prompt, with ``edit`` applied at every position.

    When the prompts share a beginning of at least ``min_shared`` tokens (the questionnaire's
    instructions), it runs once and its KV cache is reused by every batch of the prompts'
    own ends, padded between the shared part and their ends. The result equals separate
    forwards up to float rounding, at a fraction of the cost.

    Args:
        lm: the model.
        texts: the prompts (chat-templated when ``chat_template`` and the tokenizer has one).
        edit: an edit applied with scope ``all`` (both the shared part and the ends).
        batch_size: prompts per forward.
        chat_template: use the chat template when the tokenizer has one.
        share_prefix: reuse the shared beginning's cache (else full left-padded forwards).
        min_shared: the shortest shared beginning worth a cache.

    Returns:
        ``[len(texts), vocab]`` float32 logits on CPU.
    """
    model = lm.model
    device = next(model.parameters()).device
    pad_id = pad_token_id(lm.tokenizer)
    rows = token_lists(lm.tokenizer, texts, chat_template)
    shared = common_prefix_length(rows) if share_prefix and len(rows) > 1 else 0
    out = []
    with torch.no_grad(), edited(model, edit, "all"):
        cache = None
        if shared >= min_shared:
            prefix = torch.tensor([rows[0][:shared]], device=device)  # [1, shared]
            output = model(input_ids=prefix, attention_mask=torch.ones_like(prefix), use_cache=True)
            cache = output_cache(output)
            if not hasattr(cache, "batch_repeat_interleave"):
                cache = None
        for begin in range(0, len(rows), batch_size):
            chunk = rows[begin : begin + batch_size]
            if cache is None:
                ids, mask = left_pad(chunk, pad_id)
                batch = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
                logits = forward_logits(model, batch, last_only=True)
            else:
                ids, mask = left_pad([r[shared:] for r in chunk], pad_id)  # [b, s]
                past = copy.deepcopy(cache)
                past.batch_repeat_interleave(len(chunk))
                full_mask = torch.cat([torch.ones(len(chunk), shared, dtype=mask.dtype), mask], 1)
                positions = shared + (mask.cumsum(-1) - 1).clamp(min=0)  # [b, s]
                logits = last_logits(
                    model,
                    input_ids=ids.to(device),
                    attention_mask=full_mask.to(device),
                    position_ids=positions.to(device),
                    use_cache=True,
                    **{cache_argument(model): past},
                )
            out.append(logits.float().cpu())  # [b, vocab]
    return torch.cat(out)


def questionnaire_scores(
    lm: LoadedModel,
    items: Sequence[QuestionnaireItem],
    *,
    options: OptionTokens,
    prefix: str = "",
    edit: Edit | None = None,
    batch_size: int = 40,
    chat_template: bool = True,
    share_prefix: bool = True,
) -> tuple[Tensor, Tensor]:
    """Expected answer (1..6) of each item, from the prompt's next-token distribution.

    Args:
        lm: the model.
        items: the portrait items.
        options: the answer letters' token ids (:func:`option_token_ids`).
        prefix: a prompt-baseline prefix, or empty.
        edit: an edit applied with scope ``all`` during the forward (``generated`` would
            never touch a next-token read from the prompt).
        batch_size: items per forward.
        chat_template: use the chat template when the tokenizer has one.
        share_prefix: compute the items' shared beginning once (see
            :func:`next_token_logits`).

    Returns:
        ``(scores [items], mass [items])``: expected answers and the probability mass the six
        options held before renormalising (a low mass means the model was not answering).
    """
    chat = chat_template and has_chat_template(lm.tokenizer)
    texts = [questionnaire_text(item.text, prefix=prefix, chat=chat) for item in items]
    logits = next_token_logits(
        lm,
        texts,
        edit=edit,
        batch_size=batch_size,
        chat_template=chat_template,
        share_prefix=share_prefix,
    )  # [items, vocab]
    probs, mass = option_probabilities(logits, options)
    return expected_score(probs), mass


def centred_scores(
    item_scores: Tensor, items: Sequence[QuestionnaireItem], dimension: str
) -> Tensor:
    """Schwartz's centred scores of one dimension's items: each item's score minus the mean
    over all items, ``[k]`` for the ``k`` items of ``dimension``. Their mean is the
    dimension's score."""
    chosen = [i for i, item in enumerate(items) if dimension in item.dimensions]
    return item_scores[chosen] - item_scores.mean()
