"""Which token positions a hook acts on: the scope (``prompt``, ``generated``, ``all``) of each
forward call, worked out from the call's inputs by :class:`ScopeTracker`.

Scope is decided per forward call from the number of tokens already in the KV cache (the
2-D attention mask's length minus the new tokens, or the cache's own length) and the prompt
length: the length of the last call that started from an empty cache (a prefill), unless
``prompt_length`` is given. With left padding all prompts of a batch end at the same column,
so one prompt length serves the batch. Padding (attention mask 0) is never in scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from valuelocate.vocab import SCOPES, Scope
from valuelocate.vocab import check_choice as _check_choice


class ScopeTracker:
    """Works out, at each forward call of the whole model, which token positions are in scope.

    A forward pre-hook on the root module reads the call's inputs (ids or embeddings, attention
    mask, cache) and stores a ``[batch, seq]`` boolean mask that the per-layer hooks read. It is
    owned by one context manager; nothing is global.

    Args:
        scope: ``prompt``, ``generated`` or ``all``.
        prompt_length: fixed prompt length in (padded) tokens. When ``None``, every call that
            starts from an empty cache is a prefill and sets it to that call's length, which is
            right for ``generate`` with a KV cache. Pass it for a single forward over prompt and
            continuation together, or for generation without a cache.
        stop_token_ids: token ids that end a generated answer; from the first one onward a
            row's generated positions are out of scope (``generate`` keeps feeding padding to
            rows that have finished).
    """

    def __init__(
        self,
        scope: Scope,
        *,
        prompt_length: int | None = None,
        stop_token_ids: Iterable[int] | None = None,
    ) -> None:
        _check_choice("scope", scope, SCOPES)
        self.scope = scope
        self.fixed_prompt_length = prompt_length
        self.stop_token_ids = sorted(set(stop_token_ids or ()))
        self.prompt_length: int | None = prompt_length
        self.mask: Tensor | None = None  # [batch, seq] bool, on the inputs' device
        self.past = 0  # tokens already in the KV cache before the current call (0: a prefill)
        self._by_device: dict[torch.device, Tensor] = {}
        self._finished: Tensor | None = None  # [batch] bool: row has emitted a stop token

    def mask_on(self, device: torch.device) -> Tensor:
        """The current call's mask on ``device`` (copied once per call and device)."""
        if self.mask is None:
            raise RuntimeError("A neuron hook ran outside a forward call of the hooked model")
        cached = self._by_device.get(device)
        if cached is None:
            cached = self.mask.to(device)
            self._by_device[device] = cached
        return cached

    def keep_rows(self, keep: Sequence[int]) -> None:
        """Only the batch rows ``keep`` (in this order) are fed from the next call on (a
        decoding loop dropped the rows that finished)."""
        if self._finished is not None:
            index = torch.tensor(list(keep), dtype=torch.long, device=self._finished.device)
            self._finished = self._finished[index]

    def pre_hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        embeds = kwargs.get("inputs_embeds")
        ref = ids if ids is not None else embeds
        if ref is None:
            raise ValueError("The hooked model was called without input_ids or inputs_embeds")
        batch, seq = int(ref.shape[0]), int(ref.shape[1])
        device = ref.device
        attention = kwargs.get("attention_mask")
        past = _past_length(kwargs, attention, seq)
        self.past = past

        if past == 0 and self.fixed_prompt_length is None:
            self.prompt_length = seq
        if past == 0 and self.stop_token_ids:
            self._finished = torch.zeros(batch, dtype=torch.bool, device=device)
        prompt_length = self.prompt_length if self.prompt_length is not None else past + seq

        positions = torch.arange(past, past + seq, device=device)  # [seq]
        generated = (positions >= prompt_length).expand(batch, seq)  # [batch, seq]
        valid = _valid_positions(attention, past, batch, seq, device)

        if self.stop_token_ids and ids is not None:
            stops = torch.tensor(self.stop_token_ids, device=device)
            hit = torch.isin(ids, stops) & generated
            finished = self._finished
            if finished is None or finished.shape[0] != batch:
                finished = torch.zeros(batch, dtype=torch.bool, device=device)
            after_stop = (hit.cumsum(dim=1) > 0) | finished[:, None]
            self._finished = after_stop[:, -1]
            valid = valid & ~after_stop

        if self.scope == "prompt":
            in_scope = valid & ~generated
        elif self.scope == "generated":
            in_scope = valid & generated
        else:
            in_scope = valid
        self.mask = in_scope
        self._by_device = {device: in_scope}


def _past_length(kwargs: dict[str, Any], attention: Tensor | None, seq: int) -> int:
    """Tokens already in the KV cache before this call."""
    if attention is not None and attention.dim() == 2:
        # generate() passes a mask over past + current tokens.
        return max(int(attention.shape[1]) - seq, 0)
    cache_position = kwargs.get("cache_position")
    if cache_position is not None and cache_position.numel() > 0:
        return int(cache_position.reshape(-1)[0])
    cache = kwargs.get("cache", kwargs.get("past_key_values"))
    if cache is not None and hasattr(cache, "get_seq_length"):
        return int(cache.get_seq_length())
    return 0


def _valid_positions(
    attention: Tensor | None, past: int, batch: int, seq: int, device: torch.device
) -> Tensor:
    """``[batch, seq]`` True where the current token is not padding."""
    if attention is not None and attention.dim() == 2 and attention.shape[1] >= past + seq:
        return attention[:, past : past + seq].to(device=device, dtype=torch.bool)
    # A 4-D (already expanded) mask says nothing simple about padding; treat all as real.
    return torch.ones(batch, seq, dtype=torch.bool, device=device)
