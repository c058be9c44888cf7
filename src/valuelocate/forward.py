"""Running a left-padded batch through a causal LM: positions, logits and the KV cache.

Every stage that reads logits (the questionnaire, the perplexity cost, the forced-choice
instrument, generation from a shared prefill) goes through these few functions, so that
positions skip left padding the same way everywhere and a 49k-token vocabulary is only
materialised where it is needed.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch
from torch import Tensor, nn

from valuelocate.architectures import ArchSpec, arch_for


def position_ids(attention_mask: Tensor) -> Tensor:
    """Positions that skip left padding, ``[batch, seq]`` (as ``generate`` computes them)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def run_padded(model: nn.Module, ids: Tensor, mask: Tensor, **kwargs: Any) -> Any:
    """One left-padded batch ``(ids, mask)`` through ``model``, on its input device, with
    positions that skip the padding; ``kwargs`` pass through (``use_cache``,
    ``logits_to_keep``, a KV cache). Returns the model's output."""
    device = input_device(model)
    return model(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=position_ids(mask).to(device),
        **kwargs,
    )


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


class _Replay(nn.Module):
    """Stands in for a decoder layer below ``first``: returns the recorded output of layer
    ``first - 1``, tiled over the batch (the rows repeat the recorded texts in order)."""

    def __init__(self, hidden: Tensor) -> None:
        super().__init__()
        self.hidden = hidden

    def forward(self, hidden_states: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        rows, texts = hidden_states.shape[0], self.hidden.shape[0]
        if rows % texts or hidden_states.shape[1:] != self.hidden.shape[1:]:
            raise ValueError("the batch does not repeat the recorded texts")
        return self.hidden.repeat(rows // texts, 1, 1).to(hidden_states.dtype)


class _Stopped(Exception):
    """Raised by :func:`stop_after`'s hook to end a forward pass; never leaves its block."""


@contextmanager
def stop_after(model: nn.Module, layer: int, arch: ArchSpec | None = None) -> Iterator[None]:
    """End every forward pass in the block once decoder layer ``layer`` has run: for a pass
    that needs nothing above it (activations read at ``layer`` and below), the layers above
    and the output head, a third or more of the model's time, are never computed. The model
    call returns nothing (its ``with`` block simply ends after it); hooks of layers up to
    ``layer`` see exactly what a whole forward would show them. ``arch``: an architecture
    override for a family outside the table."""
    handle = _layer_list(model, arch)[layer].register_forward_hook(_stop)
    try:
        yield
    except _Stopped:
        pass
    finally:
        handle.remove()


def _stop(_module: nn.Module, _args: Any, _out: Any) -> None:
    raise _Stopped


def layer_output(model: nn.Module, layer: int, batch: dict[str, Tensor]) -> Tensor | None:
    """Decoder layer ``layer``'s output on ``batch`` (left-padded; no cache), or ``None`` where
    the layer returns more than one tensor (older families return tuples). The layers above
    are not run (:func:`stop_after`)."""
    container = _layer_list(model)
    seen: list[Any] = []
    handle = container[layer].register_forward_hook(lambda _m, _a, out: seen.append(out))
    try:
        with torch.no_grad(), stop_after(model, layer):
            model(**batch, position_ids=position_ids(batch["attention_mask"]), use_cache=False)
    finally:
        handle.remove()
    return seen[0] if seen and isinstance(seen[0], Tensor) else None


@contextmanager
def layers_from(model: nn.Module, first: int, hidden: Tensor) -> Iterator[None]:
    """Run only decoder layers ``first`` and up: the layers below are replaced, while the block
    runs, by a stand-in returning ``hidden`` (layer ``first - 1``'s output from
    :func:`layer_output`, tiled over the batch). Exact where nothing below ``first`` differs
    between the recorded batch and the run (an edit of layers ``first`` and up): the
    neutral-text cost of many added vectors (:class:`~valuelocate.comparison.cost.VectorCost`)
    then skips a third of a 30-layer model. Run with ``use_cache=False``."""
    container = _layer_list(model)
    kept = [container[i] for i in range(first)]
    replay = _Replay(hidden)
    try:
        for i in range(first):
            container[i] = replay
        yield
    finally:
        for i, layer in enumerate(kept):
            container[i] = layer


@contextmanager
def frozen_weights(model: nn.Module) -> Iterator[None]:
    """The model's weights without gradients, restored after: for a backward whose only
    gradient is an edit's offset (no weight gradient is then computed)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    for param in trainable:
        param.requires_grad_(False)
    try:
        yield
    finally:
        for param in trainable:
            param.requires_grad_(True)


def output_module(model: nn.Module) -> nn.Module:
    """The module whose output is the logits (``get_output_embeddings()``, else ``lm_head``).

    Raises:
        ValueError: the model has neither.
    """
    getter = getattr(model, "get_output_embeddings", None)
    found = getter() if callable(getter) else None
    if found is None:
        found = getattr(model, "lm_head", None)
    if not isinstance(found, nn.Module):
        raise ValueError(f"{type(model).__name__} has no output embedding (lm_head)")
    return found


@contextmanager
def head_deferred(model: nn.Module) -> Iterator[list[Tensor]]:
    """While the block runs, the output head (:func:`output_module`) records its input,
    the final hidden states, in the yielded list and returns a one-wide stand-in instead of
    the vocabulary's logits (the outputs' ``logits`` are meaningless inside): a caller that
    needs every position's logits computes them a few rows at a time with
    :func:`head_logits`, never holding a batch's ``[rows, seq, vocab]`` (5 MB a row on
    SmolLM2's 49k vocabulary, 27 MB on Gemma's 262k)."""
    head = output_module(model)
    if _head_is_input(model):
        raise ValueError(f"{type(model).__name__} reads its input through its output head")
    seen: list[Tensor] = []

    def record(hidden: Tensor) -> Tensor:
        seen.append(hidden)
        return hidden[..., :1]

    head.forward = record
    try:
        yield seen
    finally:
        del head.forward


def without_head(model: nn.Module) -> AbstractContextManager[Any]:
    """The output head skipped while the block runs (:func:`head_deferred`: the outputs'
    ``logits`` are meaningless inside), for forwards whose logits nobody reads; a model whose
    output head is its input embedding runs it all the same."""
    return nullcontext() if _head_is_input(model) else head_deferred(model)


def _head_is_input(model: nn.Module) -> bool:
    get_input = getattr(model, "get_input_embeddings", None)
    return callable(get_input) and get_input() is output_module(model)


def head_logits(model: nn.Module, hidden: Tensor) -> Tensor:
    """The logits the model's forward computes from its final hidden states ``hidden``: the
    output head, then the family's scaling of them, as the families in
    :data:`~valuelocate.architectures.ARCHITECTURES` do it (Granite's ``logits_scaling``,
    Cohere's ``logit_scale``, Gemma 2 and 3's final soft-capping). A family with another
    step would differ: a caller checks against the full forward before relying on it."""
    logits = output_module(model)(hidden)
    config: Any = getattr(model, "config", None)
    config = config.get_text_config() if hasattr(config, "get_text_config") else config
    scaling = getattr(config, "logits_scaling", None)
    if scaling:
        logits = logits / scaling
    scale = getattr(config, "logit_scale", None)
    if scale:
        logits = logits * scale
    cap = getattr(config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def _layer_list(model: nn.Module, arch: ArchSpec | None = None) -> nn.ModuleList:
    obj: Any = model
    for part in arch_for(model, arch).layers.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, nn.ModuleList):
        raise TypeError(f"{type(model).__name__}'s decoder layers are not a ModuleList")
    return obj


def input_device(model: nn.Module) -> torch.device:
    """Where the inputs go: the input embeddings' device (the first device of a model
    dispatched with ``device_map``), else the first parameter's."""
    get_embeddings = getattr(model, "get_input_embeddings", None)
    embeddings = get_embeddings() if callable(get_embeddings) else None
    weight = getattr(embeddings, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.device.type != "meta":
        return weight.device
    return next(model.parameters()).device
