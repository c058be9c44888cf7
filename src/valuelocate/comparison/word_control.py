"""The verdict's word-priming control: a bias toward one pole's answer words, at the budget.

METHOD.md section 8 ("is it values, or words?"): add to the output logits, at every position,
a strength times the unigram log-odds of each token between the two poles' answers (search
split), the strength calibrated to the same neutral-text budget as the edits. A value edit
must move the reading further than this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from valuelocate.comparison.cost import BiasCost
from valuelocate.models import LoadedModel
from valuelocate.prompting import answer_text
from valuelocate.steering.budget import find_gamma
from valuelocate.steering.word_priming import output_module, unigram_log_odds
from valuelocate.vocab import POLES


def word_bias(lm: LoadedModel, items: Sequence[Any], chat_template: bool) -> torch.Tensor:
    """The control's bias: the unigram log-odds of the search answers' tokens between the
    poles, each answer tokenized as the reading scores it."""
    texts = {
        p: [answer_text(lm, getattr(i, p), chat_template=chat_template) for i in items]
        for p in POLES
    }
    weight = getattr(output_module(lm.model), "weight", None)
    size = weight.shape[0] if isinstance(weight, torch.Tensor) else None
    return unigram_log_odds(lm.tokenizer, texts["affirm"], texts["oppose"], vocab_size=size)


def strengths(
    cost: BiasCost, bias: torch.Tensor, level: float, steps: int
) -> dict[str, tuple[float, float]]:
    """Per pole, the strength at which the bias reaches the budget and its measured cost."""
    out = {}
    for pole, sign in (("affirm", 1.0), ("oppose", -1.0)):

        def at(strength: float, _sign: float = sign) -> float:
            return cost(_sign * strength * bias)

        found = find_gamma(at, budget=level, steps=steps + 4)
        out[pole] = (found.gamma, found.cost)
    return out


__all__ = ["strengths", "word_bias"]
