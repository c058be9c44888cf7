"""How far an approximate fold is from the exact edit, measured in our own model: the
next-token changes after each situation and the forced-choice reading's shift (the figures an
``--approximate`` export writes into each file and its card)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from valuelocate.comparison.forced_choice import likelihood_reading
from valuelocate.forward import input_device, position_ids
from valuelocate.models import LoadedModel
from valuelocate.prompting import context_ids, left_pad, pad_token_id
from valuelocate.steering.intervention import Intervention, applied
from valuelocate.steering.mean_diff import MeanDiffEdit
from valuelocate.steering.residual import LayerVectors

AGREEMENT_ITEMS = 8  # dev-split items whose prompts measure an approximate fold's agreement
TOP_TOKENS = 20  # per prompt, the most likely tokens (under the exact edit) compared


def next_token_logprobs(
    lm: LoadedModel, prompts: Sequence[list[int]], edit: Intervention | None = None
) -> Tensor:
    """``[prompts, vocab]`` float64 log-probabilities of the next token after each prompt, at
    every position under ``edit`` (one left-padded batch)."""
    device = input_device(lm.model)
    ids, mask = left_pad(prompts, pad_token_id(lm.tokenizer))
    with torch.no_grad(), applied(lm.model, edit):
        logits = lm.model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=position_ids(mask).to(device),
            logits_to_keep=1,
        ).logits[:, -1]
    return torch.log_softmax(logits.double(), dim=-1).cpu()


def change_agreement(
    base: Tensor, exact: Tensor, other: Tensor, *, top: int = TOP_TOKENS
) -> dict[str, float]:
    """How the change ``other - base`` compares with ``exact - base`` (next-token
    log-probabilities, ``[prompts, vocab]``), on each prompt's ``top`` most likely tokens
    under ``exact``.

    Returns:
        ``max_abs_gap`` / ``mean_abs_gap``: of the two changes' difference (nats);
        ``mean_abs_change``: the exact change's size there (the scale of the gaps);
        ``correlation``: Pearson's r of the two changes over those (prompt, token) pairs;
        ``top1``: share of prompts whose most likely token is the same; ``kl``: mean
        KL(exact || other) of the full distributions (nats).
    """
    picked = exact.topk(min(top, exact.shape[-1]), dim=-1).indices
    d_exact = (exact - base).gather(-1, picked).flatten()
    d_other = (other - base).gather(-1, picked).flatten()
    gap = (d_other - d_exact).abs()
    corr = (
        float(np.corrcoef(d_exact.numpy(), d_other.numpy())[0, 1])
        if d_exact.numel() > 1
        else math.nan
    )
    kl = (exact.exp() * (exact - other)).sum(-1).mean()
    return {
        "max_abs_gap": float(gap.max()),
        "mean_abs_gap": float(gap.mean()),
        "mean_abs_change": float(d_exact.abs().mean()),
        "correlation": corr,
        "top1": float((exact.argmax(-1) == other.argmax(-1)).double().mean()),
        "kl": float(kl),
    }


def measure_agreement(
    lm: LoadedModel,
    edit: MeanDiffEdit,
    vectors: Mapping[int, Tensor],
    items: Sequence[Any],
    *,
    chat_template: bool = True,
) -> dict[str, float]:
    """The folded ``vectors`` against the exact ``edit`` in our own model, on ``items``
    (forced-choice items): the next-token change after each situation
    (:func:`change_agreement`) and the forced-choice reading's shift (mean dLL over the items,
    and the share of items whose shift has the same sign)."""
    folded = LayerVectors({n: v.float() for n, v in vectors.items()})
    prompts = [context_ids(lm, i.situation.strip(), chat_template=chat_template) for i in items]
    base = next_token_logprobs(lm, prompts)
    out = change_agreement(
        base, next_token_logprobs(lm, prompts, edit), next_token_logprobs(lm, prompts, folded)
    )
    reading = likelihood_reading(lm, items, chat_template=chat_template)
    shift_exact = likelihood_reading(lm, items, edit=edit, chat_template=chat_template) - reading
    shift_folded = likelihood_reading(lm, items, edit=folded, chat_template=chat_template) - reading
    same = (torch.sign(shift_exact) == torch.sign(shift_folded)).double().mean()
    out.update(
        fc_shift_exact=float(shift_exact.mean()),
        fc_shift_folded=float(shift_folded.mean()),
        fc_sign_agreement=float(same),
        items=float(len(items)),
    )
    return out


__all__ = [
    "AGREEMENT_ITEMS",
    "TOP_TOKENS",
    "change_agreement",
    "measure_agreement",
    "next_token_logprobs",
]
