"""The server's scoring pass: the log-probability of every prompt token given the ones before
(``echo`` requests), in one forward pass, alone (so exact), under the request's edit."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from valuelocate.architectures import Site
from valuelocate.hooks import Edit, edit_neurons
from valuelocate.models import LoadedModel
from valuelocate.serve.row import top_logprobs


@dataclass
class Scored:
    """Per-token results of a scoring pass over a prompt (the first token has no logprob)."""

    tokens: list[str]
    token_ids: list[int]
    logprobs: list[float | None]
    top: list[dict[str, float] | None]


def score(
    lm: LoadedModel, ids: list[int], *, edit: Edit | None, scope: str, site: Site, top_k: int
) -> Scored:
    """Log-probability of every prompt token given the ones before, in one forward pass,
    under ``edit`` at the positions of ``scope`` (the prompt counts as prompt positions)."""
    model, tokenizer = lm.model, lm.tokenizer
    device = next(model.parameters()).device
    x = torch.tensor([ids], device=device)
    with torch.no_grad():
        if edit is None or scope == "generated":
            logits = model(input_ids=x, use_cache=False).logits[0]
        else:
            with edit_neurons(model, edit, scope="all", site=site):
                logits = model(input_ids=x, use_cache=False).logits[0]
    logp = torch.log_softmax(logits.double(), dim=-1)  # [seq, vocab]
    values: list[float | None] = [None]
    tops: list[dict[str, float] | None] = [None]
    for pos in range(1, len(ids)):
        values.append(float(logp[pos - 1, ids[pos]]))
        tops.append(top_logprobs(tokenizer, logp[pos - 1], top_k) if top_k > 0 else None)
    tokens = [tokenizer.decode([i]) for i in ids]
    return Scored(tokens, list(ids), values, tops)


__all__ = ["Scored", "score"]
