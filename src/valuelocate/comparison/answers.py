"""Scoring answers given their contexts: each context once, its answers through the KV cache.

:func:`answer_logits` runs one batch: the contexts (a prefix they all share, such as the chat
template's system turn or a persona prompt, once for the batch), then every context's answers
through the repeated cache; :func:`answer_logprobs` gives each answer's mean per-token
log-probability over many batches (shortest contexts first). :func:`continuation_logprob` is
the plain computation, one left-padded row per pair, that the shared ones are tested against.
The forced-choice readings (:mod:`valuelocate.comparison.forced_choice`) and the linearised
read (:mod:`valuelocate.comparison.linear`) score answers here.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from valuelocate.forward import (
    cache_argument,
    input_device,
    output_cache,
    position_ids,
    run_padded,
)
from valuelocate.models import LoadedModel
from valuelocate.prompting import left_pad, pad_token_id
from valuelocate.steering.intervention import Intervention, applied
from valuelocate.steering.mean_diff import MeanDiffEdit
from valuelocate.steering.residual import ResidualSteer


@dataclass
class AnswerLogits:
    """One batch of contexts and their answers as :func:`answer_logits` ran it.

    Attributes:
        first: ``[b, vocab]`` logits at each context's last position (they predict every
            answer's first token).
        rest: ``[b * m, width, vocab]`` logits along each answer, right-padded (position
            ``t`` predicts the answer's token ``t + 1``).
        answers: the ``b * m`` answers' token ids, context-major.
        m: answers per context.
    """

    first: Tensor
    rest: Tensor
    answers: list[list[int]]
    m: int

    def means(self, bias: Tensor | None = None) -> Tensor:
        """``[b, m]`` float64: each answer's mean per-token log-probability, with ``bias``
        added to every logit (an output-logit bias changes no hidden state, so it is read from
        the same logits). Differentiable when the logits are."""
        first = self.first.float()
        if bias is not None:
            first = first + bias.to(first.device, first.dtype)
        head = torch.log_softmax(first, dim=-1)  # [b, V]
        out = []
        for i, a in enumerate(self.answers):
            # each answer's own positions only, as logit - logsumexp: no [b * m, width, V]
            # log-softmax of the whole batch beside its logits (nor kept for the backward)
            rest = self.rest[i, : len(a) - 1].float()  # [len(a) - 1, V]
            if bias is not None:
                rest = rest + bias.to(rest.device, rest.dtype)
            picked = rest[torch.arange(len(a) - 1), torch.tensor(a[1:], dtype=torch.long)]
            tail = (picked - torch.logsumexp(rest, dim=-1)).double().sum()
            out.append((head[i // self.m, a[0]].double() + tail) / len(a))
        return torch.stack(out).reshape(-1, self.m)


# A shared prefix shorter than this runs with each row: its own forward is not worth it.
MIN_SHARED_PREFIX = 8


def shared_prefix(contexts: Sequence[list[int]]) -> int:
    """How many leading tokens all ``contexts`` share (the chat template's system turn, a
    persona prompt), leaving each context at least one token of its own; 0 for one context."""
    if len(contexts) < 2:
        return 0
    first = contexts[0]
    limit = max(min(len(c) for c in contexts) - 1, 0)
    for k in range(limit):
        if any(c[k] != first[k] for c in contexts[1:]):
            return k
    return limit


@dataclass
class SharedPrefix:
    """Tokens every context of a read starts with, run once (one row) with their KV cache."""

    tokens: list[int]
    cache: Any

    @classmethod
    def run(cls, model: nn.Module, tokens: Sequence[int]) -> SharedPrefix:
        """The prefix's forward under whatever hooks and grad mode the caller set."""
        head = torch.tensor([list(tokens)], dtype=torch.long)
        ran = run_padded(model, head, torch.ones_like(head), use_cache=True, logits_to_keep=1)
        return cls(list(tokens), output_cache(ran))

    def for_rows(self, rows: int, *, copy: bool = True) -> Any:
        """The cache repeated for ``rows`` rows; a copy unless ``copy`` is False (a forward
        extends the cache it is given, so a prefix read by many batches is copied for each)."""
        cache = deepcopy(self.cache) if copy else self.cache
        cache.batch_repeat_interleave(rows)
        return cache


def _run_contexts(
    model: nn.Module,
    contexts: Sequence[list[int]],
    pad: int,
    prefix: SharedPrefix | None,
    *,
    copy: bool = True,
) -> Any:
    """The contexts' forward (KV cache, last position's logits) and their attention mask.

    With a ``prefix`` (which every context starts with, already run) the rows run only their
    own tokens, left-padded after the prefix (``[prefix][pads][own tokens]``, the pads masked,
    positions counting real tokens only). Equal to the plain left-padded forward up to float
    rounding; returns ``(output, mask [b, prefix + width])``.
    """
    if prefix is None:
        ids, mask = left_pad(contexts, pad)
        return run_padded(model, ids, mask, use_cache=True, logits_to_keep=1), mask
    shared = len(prefix.tokens)
    if any(list(c[:shared]) != prefix.tokens or len(c) <= shared for c in contexts):
        raise ValueError("every context must start with the shared prefix and go past it")
    cache = prefix.for_rows(len(contexts), copy=copy)
    ids, own = left_pad([list(c[shared:]) for c in contexts], pad)
    mask = torch.cat([torch.ones(len(contexts), shared, dtype=own.dtype), own], dim=1)
    device = input_device(model)
    out = model(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=(shared + position_ids(own)).to(device),
        use_cache=True,
        logits_to_keep=1,
        **{cache_argument(model): cache},
    )
    return out, mask


def _prefix_of(model: nn.Module, contexts: Sequence[list[int]]) -> SharedPrefix | None:
    """The prefix all ``contexts`` share, run, when it is long enough to be worth a forward."""
    shared = shared_prefix(contexts)
    return SharedPrefix.run(model, contexts[0][:shared]) if shared >= MIN_SHARED_PREFIX else None


def answer_logits(
    lm: LoadedModel,
    contexts: Sequence[list[int]],
    answers: Sequence[Sequence[list[int]]],
    *,
    share_prefix: bool = True,
    prefix: SharedPrefix | None = None,
) -> AnswerLogits:
    """One batch: the contexts (left-padded) run once with a KV cache; the cache is repeated
    for each context's ``m`` answers, which run together (right-padded after the context).

    The same computation as one forward per (context, answer) row, up to float rounding, at
    about half the cost when the contexts are longer than the answers. With ``share_prefix``
    a prefix every context shares runs once for the batch, or once for many batches when the
    caller passes it as ``prefix`` (:func:`_run_contexts`; the caller's edit must do the same
    at every call and position, which the dynamic rule's per-call draws do not). Runs under
    whatever grad mode and hooks the caller set (the gradient flows through the caches).
    """
    model = lm.model
    device = input_device(model)
    pad = pad_token_id(lm.tokenizer)
    m = len(answers[0])
    own = prefix is None and share_prefix
    if own:
        prefix = _prefix_of(model, contexts)
    first, mask = _run_contexts(model, contexts, pad, prefix, copy=not own)  # mask [b, Lc]
    cache = output_cache(first)
    cache.batch_repeat_interleave(m)
    rows = [list(a) for group in answers for a in group]  # [b * m]
    width = max(len(a) for a in rows)
    a_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    a_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, a in enumerate(rows):
        a_ids[i, : len(a)] = torch.tensor(a, dtype=torch.long)
        a_mask[i, : len(a)] = 1
    ctx_mask = mask.repeat_interleave(m, dim=0)  # [b * m, Lc]
    full_mask = torch.cat([ctx_mask, a_mask], dim=1)
    start = ctx_mask.sum(-1, keepdim=True)  # [b * m, 1]: first answer position
    a_pos = start + torch.arange(width)[None, :]
    rest = model(
        input_ids=a_ids.to(device),
        attention_mask=full_mask.to(device),
        position_ids=a_pos.to(device),
        use_cache=True,
        **{cache_argument(model): cache},
    ).logits  # [b * m, width, V]
    return AnswerLogits(first.logits[:, -1], rest, rows, m)


def same_every_call(edit: Intervention | None) -> bool:
    """Whether ``edit`` adds the same thing at every position of every forward call, so a
    prefix its rows share may run once for all (:func:`answer_logits`): none, a constant
    neuron edit or a residual vector; not the dynamic rule, whose draws advance per call."""
    return edit is None or isinstance(edit, MeanDiffEdit | ResidualSteer)


def answer_logprobs(
    lm: LoadedModel,
    contexts: Sequence[list[int]],
    answers: Sequence[Sequence[list[int]]],
    *,
    edit: Intervention | None = None,
    batch_size: int = 8,
) -> Tensor:
    """Mean per-token log-probability of each answer given its context, each context run once
    (:func:`answer_logits`, ``batch_size`` contexts per batch).

    Args:
        lm: the model.
        contexts: ``[rows]`` token ids of each context.
        answers: per context, the same number ``m`` of answers (token ids).
        edit: applied at every position while the rows run.
        batch_size: contexts per forward.

    Returns:
        ``[rows, m]`` float64 mean log-probabilities (nats per token).
    """
    m_all = len(answers[0]) if answers else 0
    share = same_every_call(edit)
    # shortest contexts first (less padding per batch), unless the edit draws per call: then
    # the order, and so the draws each item sees, stay as given
    order = list(range(len(contexts)))
    if share:
        order.sort(key=lambda i: len(contexts[i]))
    out: list[Tensor] = []
    with torch.no_grad(), applied(lm.model, edit):
        prefix = _prefix_of(lm.model, contexts) if share else None  # once for every batch
        for begin in range(0, len(order), batch_size):
            chosen = order[begin : begin + batch_size]
            batch = answer_logits(
                lm, [contexts[i] for i in chosen], [answers[i] for i in chosen],
                share_prefix=share, prefix=prefix,
            )  # fmt: skip
            out.append(batch.means().cpu())
    if not out:
        return torch.empty(0, m_all, dtype=torch.float64)
    result = torch.empty(len(order), m_all, dtype=torch.float64)
    result[torch.tensor(order)] = torch.cat(out)
    return result


def continuation_logprob(
    lm: LoadedModel,
    pairs: Sequence[tuple[list[int], list[int]]],
    *,
    edit: Intervention | None = None,
    batch_size: int = 16,
) -> Tensor:
    """Mean per-token log-probability of each continuation given its context, one
    left-padded row per pair (the plain computation; :func:`answer_logprobs` shares contexts).

    Returns:
        ``[rows]`` float64 mean log-probability (nats per token).
    """
    model = lm.model
    device = input_device(lm.model)
    out: list[Tensor] = []
    with torch.no_grad(), applied(model, edit):
        for begin in range(0, len(pairs), batch_size):
            chunk = pairs[begin : begin + batch_size]
            ids, mask = left_pad([c + a for c, a in chunk], pad_token_id(lm.tokenizer))
            keep = max(len(a) for _, a in chunk) + 1
            # [b, keep-1, vocab]: the predictions of the last keep-1 tokens
            logits = run_padded(model, ids, mask, logits_to_keep=keep).logits[:, -keep:-1]
            logp = torch.log_softmax(logits.float(), dim=-1)
            targets = ids[:, -keep + 1 :].to(device)  # [b, keep-1]
            picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1).double().cpu()
            for row, (_, answer) in enumerate(chunk):
                n = len(answer)
                out.append(picked[row, -n:].mean())
    return torch.stack(out) if out else torch.empty(0, dtype=torch.float64)


__all__ = [
    "MIN_SHARED_PREFIX",
    "AnswerLogits",
    "SharedPrefix",
    "answer_logits",
    "answer_logprobs",
    "continuation_logprob",
    "same_every_call",
    "shared_prefix",
]
