"""Hooks that read and write MLP neurons, owned by context managers.

Usage:

1. ``with trace_neurons(model, callback, scope="generated"):`` calls
   ``callback(layer, values, mask)`` at every forward call of every hooked layer, where
   ``values`` is the site's tensor ``[batch, seq, neurons]`` and ``mask`` ``[batch, seq]`` marks
   the positions in scope (never padding). Statistics accumulators are such callbacks.
2. ``with capture_activations(model) as cap:`` is the same with a callback that keeps the
   in-scope rows, for tests and small experiments (``cap.values(layer)`` -> ``[tokens, neurons]``).
3. ``with edit_neurons(model, edit, scope="generated"):`` rewrites selected neurons at the
   in-scope positions; ``edit`` is any :class:`Edit` (see :class:`NeuronEdit` for the simple one).
4. Every hook is removed when the ``with`` block ends, also when it raises.

Which positions are in scope is worked out per forward call by
:class:`valuelocate.scope.ScopeTracker`. Padding (attention mask 0) is never in scope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from valuelocate.architectures import ArchSpec, arch_for, decoder_layers, site_module
from valuelocate.scope import ScopeTracker
from valuelocate.vocab import SITES, Scope, Site
from valuelocate.vocab import check_choice as _check_choice

# callback(layer, values [batch, seq, neurons], mask [batch, seq] bool)
TraceFn = Callable[[int, Tensor, Tensor], None]


@dataclass
class HookSet:
    """The handles of one context manager's hooks; removes them in reverse order."""

    handles: list[RemovableHandle] = field(default_factory=list)

    def remove(self) -> None:
        while self.handles:
            self.handles.pop().remove()


def _layer_indices(n_layers: int, layers: Iterable[int] | None) -> list[int]:
    chosen = list(range(n_layers)) if layers is None else sorted(set(layers))
    bad = [i for i in chosen if not 0 <= i < n_layers]
    if bad:
        raise ValueError(f"Layer index {bad[0]} out of range: the model has {n_layers} layers")
    return chosen


def register_site_hook(
    module: nn.Module, site: Site, fn: Callable[[Tensor], Tensor | None]
) -> RemovableHandle:
    """Attach ``fn(values) -> new values or None`` to ``site`` of one layer's module."""
    if site == "act":

        def forward_hook(_m: nn.Module, _args: Any, output: Tensor) -> Tensor | None:
            return fn(output)

        return module.register_forward_hook(forward_hook)

    def pre_hook(_m: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        new = fn(args[0])
        return None if new is None else (new, *args[1:])

    return module.register_forward_pre_hook(pre_hook)


@contextmanager
def _hooked(
    model: nn.Module,
    per_layer: Callable[[int, Tensor, Tensor], Tensor | None],
    *,
    site: Site,
    scope: Scope,
    layers: Iterable[int] | None,
    prompt_length: int | None,
    stop_token_ids: Iterable[int] | None,
    arch: ArchSpec | None,
) -> Iterator[ScopeTracker]:
    """Install a root pre-hook (scope) and one site hook per layer; remove all on exit."""
    _check_choice("site", site, SITES)
    spec = arch_for(model, arch)
    all_layers = decoder_layers(model, spec)
    chosen = _layer_indices(len(all_layers), layers)
    tracker = ScopeTracker(scope, prompt_length=prompt_length, stop_token_ids=stop_token_ids)
    hooks = HookSet()
    try:
        # Registration is inside try so that a failure half-way removes what was added;
        # the hooks list starts empty, so nothing is unbound if the first one fails.
        hooks.handles.append(model.register_forward_pre_hook(tracker.pre_hook, with_kwargs=True))
        for index in chosen:
            module = site_module(all_layers[index], site, spec)

            def on_values(values: Tensor, _index: int = index) -> Tensor | None:
                mask = tracker.mask_on(values.device).reshape(values.shape[:-1])
                return per_layer(_index, values, mask)

            hooks.handles.append(register_site_hook(module, site, on_values))
        yield tracker
    finally:
        hooks.remove()


@contextmanager
def trace_neurons(
    model: nn.Module,
    callback: TraceFn,
    *,
    site: Site = "act",
    scope: Scope = "all",
    layers: Iterable[int] | None = None,
    prompt_length: int | None = None,
    stop_token_ids: Iterable[int] | None = None,
    arch: ArchSpec | None = None,
) -> Iterator[ScopeTracker]:
    """Call ``callback(layer, values, mask)`` at every forward of every hooked layer.

    Args:
        model: a ``*ForCausalLM`` of a family in the architecture table (or pass ``arch``).
        callback: receives the layer index, the site's values ``[batch, seq, neurons]`` and the
            in-scope mask ``[batch, seq]``. It must not modify ``values``.
        site: ``act`` (the neuron) or ``down_in`` (input of the down projection).
        scope: ``prompt``, ``generated`` or ``all`` (see :class:`ScopeTracker`).
        layers: layer indices to hook; all by default.
        prompt_length, stop_token_ids: see :class:`ScopeTracker`.
        arch: override of the architecture table.

    Example:
        >>> with trace_neurons(model, lambda l, v, m: print(l, v[m].shape)):
        ...     model(**batch)
    """

    def on_layer(layer: int, values: Tensor, mask: Tensor) -> None:
        callback(layer, values.detach(), mask)
        return None

    with _hooked(
        model,
        on_layer,
        site=site,
        scope=scope,
        layers=layers,
        prompt_length=prompt_length,
        stop_token_ids=stop_token_ids,
        arch=arch,
    ) as tracker:
        yield tracker


class DecodeChunker:
    """A :data:`TraceFn` adapter that hands decoding steps to ``sink`` in chunks.

    During ``generate`` with a KV cache each forward call carries one token per row, so a
    per-call consumer (the statistics) pays its fixed per-call cost at every step and layer.
    This adapter keeps the one-token calls of each layer and passes them on concatenated along
    the sequence axis, ``[batch, steps, neurons]`` with mask ``[batch, steps]``: the same rows
    and tokens, in the same order, as if they had come in one call. Calls with more than one
    token (prefill, full forwards) go straight through, after the layer's pending steps.

    Memory is bounded by ``max_steps`` one-token calls per layer. Call :meth:`flush` before
    reading the sink's results (``run_pole`` does it at the end of each batch).

    Args:
        sink: the consumer, e.g. ``NeuronStats.add``.
        max_steps: flush a layer after this many buffered steps.
    """

    def __init__(self, sink: TraceFn, *, max_steps: int = 32) -> None:
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        self.sink = sink
        self.max_steps = max_steps
        self._values: dict[int, list[Tensor]] = {}
        self._masks: dict[int, list[Tensor]] = {}

    def __call__(self, layer: int, values: Tensor, mask: Tensor) -> None:
        if values.dim() != 3 or values.shape[1] != 1:
            self._flush_layer(layer)
            self.sink(layer, values, mask)
            return
        steps = self._values.setdefault(layer, [])
        masks = self._masks.setdefault(layer, [])
        if steps and steps[0].shape[0] != values.shape[0]:
            self._flush_layer(layer)  # a new batch of another size: never mix rows
        steps.append(values)
        masks.append(mask)
        if len(steps) >= self.max_steps:
            self._flush_layer(layer)

    def _flush_layer(self, layer: int) -> None:
        steps = self._values.pop(layer, [])
        masks = self._masks.pop(layer, [])
        if steps:
            self.sink(layer, torch.cat(steps, dim=1), torch.cat(masks, dim=1))

    def flush(self) -> None:
        """Pass every pending step on to the sink."""
        for layer in sorted(self._values):
            self._flush_layer(layer)


@dataclass
class ActivationCapture:
    """In-scope neuron values gathered by :func:`capture_activations`, per layer."""

    chunks: dict[int, list[Tensor]] = field(default_factory=dict)

    def add(self, layer: int, values: Tensor, mask: Tensor) -> None:
        self.chunks.setdefault(layer, []).append(values[mask].detach().float().cpu())

    def values(self, layer: int) -> Tensor:
        """All captured rows of ``layer``, ``[tokens, neurons]``, in call order."""
        chunks = self.chunks.get(layer, [])
        if not chunks:
            return torch.empty(0, 0)
        return torch.cat(chunks, dim=0)

    @property
    def layers(self) -> list[int]:
        return sorted(self.chunks)


@contextmanager
def capture_activations(
    model: nn.Module,
    *,
    site: Site = "act",
    scope: Scope = "all",
    layers: Iterable[int] | None = None,
    prompt_length: int | None = None,
    stop_token_ids: Iterable[int] | None = None,
    arch: ArchSpec | None = None,
) -> Iterator[ActivationCapture]:
    """Keep every in-scope neuron value (float32, CPU). For small runs and tests only: it
    stores all activations, which the streaming statistics of ``valuelocate.stats`` avoid.

    Example:
        >>> with capture_activations(model, layers=[0]) as cap:
        ...     model(**batch)
        >>> cap.values(0).shape  # [tokens, neurons]
    """
    capture = ActivationCapture()
    with trace_neurons(
        model,
        capture.add,
        site=site,
        scope=scope,
        layers=layers,
        prompt_length=prompt_length,
        stop_token_ids=stop_token_ids,
        arch=arch,
    ):
        yield capture


class Edit(Protocol):
    """A rewrite of some neurons. :func:`edit_neurons` applies it at in-scope positions.

    ``layers()`` names the layers it touches; ``edit(layer, values)`` gets the site's values
    ``[batch, seq, neurons]`` and returns ``(indices [k], new_values [batch, seq, k])``: the
    neurons to rewrite and their new values. It is called once per forward call and layer (so
    a stochastic edit can redraw there), and only when some position is in scope.

    ``site`` is where the edit's neurons live (``act`` or ``down_in``: an edit built from a
    run's neuron sets carries the site they were located at), and ``reset()`` restarts any
    seeded draws, so that every measurement of a condition sees the same sequence whatever
    ran before it. Composite edits forward both to their parts.
    """

    @property
    def site(self) -> Site: ...

    def layers(self) -> Iterable[int]: ...

    def edit(self, layer: int, values: Tensor) -> tuple[Tensor, Tensor]: ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class NeuronEdit:
    """The simplest :class:`Edit`: the same element-wise function on chosen neurons per layer.

    Attributes:
        indices: layer -> neuron indices (a 1-D long tensor or a list of ints).
        fn: element-wise rewrite, ``fn(values [batch, seq, k]) -> [batch, seq, k]``.
        site: where the neurons live.

    Example:
        >>> NeuronEdit({3: [7, 9]}, lambda a: a + 1.0)  # add 1 to neurons 7 and 9 of layer 3
    """

    indices: Mapping[int, Sequence[int] | Tensor]
    fn: Callable[[Tensor], Tensor]
    site: Site = "act"
    # Set when ``fn`` is ``a + constant`` (``add_edit``): a batch may then apply the edit as
    # one indexed add (see additive()).
    constant: float | None = None

    def layers(self) -> Iterable[int]:
        return self.indices.keys()

    def edit(self, layer: int, values: Tensor) -> tuple[Tensor, Tensor]:
        idx = torch.as_tensor(self.indices[layer], dtype=torch.long, device=values.device)
        return idx, self.fn(values.index_select(-1, idx))

    def additive(
        self, layer: int, dtype: torch.dtype, device: torch.device
    ) -> tuple[Tensor, Tensor] | None:
        """``(indices [k], delta [k])`` when :meth:`edit` is exactly ``values[..., indices] +
        delta``: a ``constant`` edit on unique indices in float32 or float64, where adding the
        constant cast to the dtype rounds as adding the Python float does (in half precision
        torch adds a Python float in float32, so the two differ); otherwise ``None``."""
        if self.constant is None or dtype not in (torch.float32, torch.float64):
            return None
        idx = torch.as_tensor(self.indices[layer], dtype=torch.long, device=device)
        if int(torch.unique(idx).numel()) != int(idx.numel()):
            return None
        delta = torch.full((int(idx.numel()),), float(self.constant), dtype=torch.float64)
        return idx, delta.to(device=device, dtype=dtype)

    def reset(self) -> None:
        """Nothing to restart: the edit is deterministic."""


def identity_edit(
    indices: Mapping[int, Sequence[int] | Tensor], *, site: Site = "act"
) -> NeuronEdit:
    """An edit that rewrites the chosen neurons with their own values (for oracle tests)."""
    return NeuronEdit(indices, lambda a: a, site=site)


@contextmanager
def edit_neurons(
    model: nn.Module,
    edit: Edit,
    *,
    site: Site | None = None,
    scope: Scope = "generated",
    prompt_length: int | None = None,
    stop_token_ids: Iterable[int] | None = None,
    arch: ArchSpec | None = None,
) -> Iterator[ScopeTracker]:
    """Apply ``edit`` to the model's neurons while the ``with`` block runs.

    Only in-scope positions change; other positions and other neurons keep their values
    exactly. The site tensor is not modified in place: a new tensor is returned to the model.

    Args:
        model: a ``*ForCausalLM`` of a supported family.
        edit: what to rewrite (:class:`NeuronEdit` or any :class:`Edit`).
        site: ``act`` or ``down_in``; by default the edit's own ``site`` (edits built from
            neuron sets carry the site they were located at).
        scope, prompt_length, stop_token_ids, arch: as in :func:`trace_neurons`;
            scope defaults to ``generated`` (edit only the answer, as in the study).

    Example:
        >>> with edit_neurons(model, NeuronEdit({20: [5]}, torch.zeros_like), scope="all"):
        ...     out = model.generate(**batch, max_new_tokens=20)
    """

    def on_layer(layer: int, values: Tensor, mask: Tensor) -> Tensor | None:
        if not bool(mask.any()):
            return None
        idx, new = edit.edit(layer, values)
        old = values.index_select(-1, idx)
        new = torch.where(mask.unsqueeze(-1), new.to(values.dtype), old)
        return values.index_copy(-1, idx, new)

    with _hooked(
        model,
        on_layer,
        site=site if site is not None else edit.site,
        scope=scope,
        layers=list(edit.layers()),
        prompt_length=prompt_length,
        stop_token_ids=stop_token_ids,
        arch=arch,
    ) as tracker:
        yield tracker


def count_hooks(model: nn.Module) -> int:
    """Number of forward (pre-)hooks on ``model`` and all its submodules (for tests)."""
    total = 0
    for module in model.modules():
        total += len(module._forward_hooks) + len(module._forward_pre_hooks)
    return total
