"""The worker side of the vLLM backend (:mod:`valuelocate.locating.vllm_backend`): the hooks
that run beside vLLM's model, registered and removed through ``LLM.collective_rpc``.

:func:`install` puts a pre-hook on the root model, which maps the step's flat token axis to
the wave's rows (:class:`StepTokens`), and a forward hook on each layer's activation module,
which hands the neurons' values to the :class:`Tracer`'s callback and applies its edit;
:func:`remove` takes them off. The why is in :mod:`valuelocate.locating.vllm_backend`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from valuelocate.hooks import Edit, Scope

# ``model.layers.3.mlp.act_fn`` (Llama, Qwen2, Mistral, Gemma ...), ``transformer.h.3.mlp.act``
_ACT_NAME = re.compile(r"(?:^|\.)(?:layers|h)\.(\d+)\.mlp\.(?:act_fn|act)$")


@dataclass
class StepTokens:
    """Where each request's tokens are in the current forward call's flat token axis."""

    rows: Tensor  # [tokens] int64: the wave row of each token (-1: not ours)
    decode: Tensor  # [tokens] bool: a generated token fed back (a one-token segment)


@dataclass
class Tracer:
    """The hooks' state in the worker: what to do per layer, and the current step's tokens.

    ``rows_of`` maps vLLM request ids to rows of the current wave (set by the driver).
    """

    neurons: int
    on_values: Callable[[int, Tensor, StepTokens], None] | None = None
    edit: Edit | None = None
    edit_scope: Scope = "generated"
    rows_of: dict[str, int] = field(default_factory=dict)
    step: StepTokens | None = None
    handles: list[Any] = field(default_factory=list)


def _request_ids(worker: Any) -> list[str]:
    """Request ids in batch order (vLLM V1's model runner; not a documented API)."""
    runner = getattr(worker, "model_runner", None)
    batch = getattr(runner, "input_batch", None)
    ids = getattr(batch, "req_ids", None)
    if ids is None:
        raise RuntimeError(
            "This vLLM version keeps its batch's request ids elsewhere than "
            "worker.model_runner.input_batch.req_ids; adapt "
            "valuelocate.locating.vllm_worker._request_ids"
        )
    return list(ids)


def _row_of(rows_of: dict[str, int], request_id: str) -> int:
    """The wave row of an engine request id; some vLLM releases append ``-<suffix>`` to the
    id a request was added with. -1 for a request that is not ours."""
    if request_id in rows_of:
        return rows_of[request_id]
    for external, row in rows_of.items():
        if request_id.startswith(external + "-"):
            return row
    return -1


def _query_start_loc() -> Tensor:
    """``[requests + 1]`` offsets of each request's tokens, from the forward context."""
    from vllm.forward_context import get_forward_context

    metadata = get_forward_context().attn_metadata
    if isinstance(metadata, list):  # micro-batched: one dict per micro-batch
        metadata = metadata[0]
    if isinstance(metadata, dict):
        metadata = next(iter(metadata.values()))
    offsets = getattr(metadata, "query_start_loc", None)
    if offsets is None:
        raise RuntimeError("The attention backend's metadata has no query_start_loc")
    return offsets


def _step_tokens(worker: Any, tracer: Tracer, num_tokens: int, device: torch.device) -> StepTokens:
    """Map the flat token axis of this step to wave rows and mark the decoding tokens."""
    offsets = _query_start_loc().to("cpu", torch.int64)
    lengths = offsets[1:] - offsets[:-1]  # [requests]
    ids = _request_ids(worker)[: lengths.numel()]
    request_rows = torch.tensor([_row_of(tracer.rows_of, i) for i in ids], dtype=torch.int64)
    rows = torch.full((num_tokens,), -1, dtype=torch.int64)
    used = int(offsets[-1])
    rows[:used] = request_rows.repeat_interleave(lengths)
    decode = torch.zeros(num_tokens, dtype=torch.bool)
    decode[:used] = (lengths == 1).repeat_interleave(lengths)
    return StepTokens(rows.to(device), decode.to(device))


def _activation(module: nn.Module) -> tuple[bool, Callable[[Tensor], Tensor]]:
    """(gated, act): whether ``module`` is a fused ``act(gate) * up`` and its activation."""
    name = type(module).__name__
    gated = name.endswith("AndMul")
    if name.startswith("Gelu"):
        approximate = getattr(module, "approximate", "none")
        return gated, lambda x: F.gelu(x, approximate=approximate)
    if name.startswith(("Silu", "SiLU")):
        return gated, F.silu
    if gated:
        raise RuntimeError(f"Unsupported fused activation {name} in the vLLM model")
    return False, lambda x: x  # a plain activation module: its output is the neuron


def scope_mask(step: StepTokens, scope: Scope) -> Tensor:
    ours = step.rows >= 0
    if scope == "generated":
        return ours & step.decode
    if scope == "prompt":
        return ours & ~step.decode
    return ours


def install(worker: Any, tracer: Tracer) -> int:
    """Register the hooks on the worker's model (run through ``collective_rpc``).

    Returns:
        The number of layers hooked.
    """
    model = worker.get_model() if hasattr(worker, "get_model") else worker.model_runner.model
    layers: dict[int, nn.Module] = {}
    for name, module in model.named_modules():
        match = _ACT_NAME.search(name)
        if match:
            layers[int(match.group(1))] = module

    def pre_hook(_m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        positions = kwargs.get("positions", args[1] if len(args) > 1 else None)
        ref = ids if ids is not None else positions
        if ref is None:
            raise RuntimeError("The vLLM model was called without input_ids or positions")
        tracer.step = _step_tokens(worker, tracer, int(ref.shape[-1]), ref.device)

    tracer.handles.append(model.register_forward_pre_hook(pre_hook, with_kwargs=True))
    for index, module in sorted(layers.items()):
        tracer.handles.append(module.register_forward_hook(_layer_hook(tracer, index, module)))
    return len(layers)


def _layer_hook(tracer: Tracer, layer: int, module: nn.Module) -> Callable[..., Tensor | None]:
    """The forward hook of one layer's activation module."""
    gated, act = _activation(module)

    def hook(_m: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> Tensor | None:
        return _on_layer(tracer, layer, inputs[0], output, gated=gated, act=act)

    return hook


def _on_layer(
    tracer: Tracer,
    layer: int,
    x: Tensor,
    output: Tensor,
    *,
    gated: bool,
    act: Callable[[Tensor], Tensor],
) -> Tensor | None:
    """Statistics and edits of one layer at one step; ``x`` is ``[tokens, 2N]`` (gated) or
    ``[tokens, N]``, ``output`` ``[tokens, N]``."""
    step = tracer.step
    if step is None:
        return None
    n = tracer.neurons
    a = act(x[..., :n]) if gated else output  # [tokens, neurons]
    if tracer.on_values is not None:
        tracer.on_values(layer, a.detach(), step)
    edit = tracer.edit
    if edit is None or layer not in set(edit.layers()):
        return None
    mask = scope_mask(step, tracer.edit_scope)  # [tokens]
    if not bool(mask.any()):
        return None
    idx, new = edit.edit(layer, a[None])  # [k], [1, tokens, k]
    new = new[0].to(output.dtype)
    if gated:
        new = new * x[..., n:].index_select(-1, idx)  # a' * up
    old = output.index_select(-1, idx)
    return output.index_copy(-1, idx, torch.where(mask[:, None], new, old))


def remove(_worker: Any, tracer: Tracer) -> None:
    while tracer.handles:
        tracer.handles.pop().remove()
    tracer.step = None
