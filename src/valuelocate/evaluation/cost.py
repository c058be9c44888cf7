"""The cost of an edit: neutral-text perplexity under the edit, and degenerate answers.

The neutral texts themselves: :func:`valuelocate.data.neutral.load_neutral_texts`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from valuelocate.forward import forward_logits
from valuelocate.generation import edited
from valuelocate.hooks import Edit
from valuelocate.models import LoadedModel


def text_nll(
    lm: LoadedModel, texts: Sequence[str], *, edit: Edit | None = None, batch_size: int = 40
) -> Tensor:
    """Mean negative log-likelihood per predicted token of each text (raw text, no chat
    template), with ``edit`` applied at every position (scope ``all``).

    Returns:
        ``[texts]`` float64; ``exp`` of it is the text's perplexity.
    """
    tokenizer = lm.tokenizer
    device = next(lm.model.parameters()).device
    out = []
    previous = tokenizer.padding_side
    for begin in range(0, len(texts), batch_size):
        tokenizer.padding_side = "left"
        try:
            batch = dict(
                tokenizer(
                    list(texts[begin : begin + batch_size]), return_tensors="pt", padding=True
                )
            )
        finally:
            tokenizer.padding_side = previous
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.no_grad(), edited(lm.model, edit, "all"):
            logits = forward_logits(lm.model, batch, last_only=False)  # [b, seq, vocab]
        logits = logits[:, :-1].float()  # [b, seq-1, vocab]
        targets = batch["input_ids"][:, 1:]  # [b, seq-1]
        picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # [b, seq-1]
        nll = (torch.logsumexp(logits, dim=-1) - picked).double()  # [b, seq-1]
        # A token is predicted when it and the token before it are real (not padding).
        mask = (batch["attention_mask"][:, 1:] * batch["attention_mask"][:, :-1]).double()
        out.append(((nll * mask).sum(-1) / mask.sum(-1).clamp(min=1)).cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.float64)


def distinct_n(words: Sequence[str], n: int = 2) -> float:
    """Distinct n-grams over all n-grams of ``words`` (1.0 when there is none)."""
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


def is_degenerate(
    text: str, *, min_distinct2: float = 0.5, max_word_run: int = 3, max_char_run: int = 12
) -> bool:
    """Whether an answer is degenerate (the cost measure ``degenerate_share``).

    An answer is degenerate when any of these holds, on lower-cased whitespace words:

    - it is empty (no word);
    - it has at least 4 words and its distinct-2 (distinct word bigrams / bigrams) is below
      ``min_distinct2`` (loops such as "I think I think I think ...");
    - one word is repeated more than ``max_word_run`` times in a row ("no no no no");
    - one character is repeated more than ``max_char_run`` times in a row ("!!!!!!!...").

    Example:
        >>> is_degenerate("I like it. " * 6), is_degenerate("I would ask my family first.")
        (True, False)
    """
    words = text.lower().split()
    if not words:
        return True
    if len(words) >= 4 and distinct_n(words, 2) < min_distinct2:
        return True
    if _longest_run(words) > max_word_run:
        return True
    return _longest_run(list(text)) > max_char_run


def _longest_run(seq: Sequence[str]) -> int:
    best = run = 0
    previous: str | None = None
    for x in seq:
        run = run + 1 if x == previous else 1
        best = max(best, run)
        previous = x
    return best
