"""Running a left-padded batch through a causal LM: positions, logits and the KV cache.

Every stage that reads logits (the questionnaire, the perplexity cost, the forced-choice
instrument, generation from a shared prefill) goes through these few functions, so that
positions skip left padding the same way everywhere and a 49k-token vocabulary is only
materialised where it is needed.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import Tensor, nn


def position_ids(attention_mask: Tensor) -> Tensor:
    """Positions that skip left padding, ``[batch, seq]`` (as ``generate`` computes them)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def forward_logits(model: nn.Module, batch: dict[str, Tensor], *, last_only: bool) -> Tensor:
    """Logits of one left-padded batch: ``[batch, vocab]`` (last position) or
    ``[batch, seq, vocab]``."""
    positions = position_ids(batch["attention_mask"])
    if last_only:
        return last_logits(model, **batch, position_ids=positions)
    return model(**batch, position_ids=positions).logits


def last_logits(model: nn.Module, **kwargs: Any) -> Tensor:
    """``[batch, vocab]`` logits of the last position, computing only those when the model
    supports ``logits_to_keep`` (a 49k-token vocabulary over every position is large)."""
    try:
        logits = model(**kwargs, logits_to_keep=1).logits
    except TypeError:
        logits = model(**kwargs).logits
    return logits[:, -1, :]


def cache_argument(model: nn.Module) -> str:
    """The forward's name for the KV cache: ``cache`` (transformers 5) or ``past_key_values``."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def output_cache(output: Any) -> Any:
    """The KV cache a forward returned (under either name), or ``None``."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


def input_device(model: nn.Module) -> torch.device:
    """Where the inputs go: the input embeddings' device (the first device of a model
    dispatched with ``device_map``), else the first parameter's."""
    get_embeddings = getattr(model, "get_input_embeddings", None)
    embeddings = get_embeddings() if callable(get_embeddings) else None
    weight = getattr(embeddings, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.device.type != "meta":
        return weight.device
    return next(model.parameters()).device
