"""One edit per batch row, applied in place on the edited neurons only: the server's fast path.

Usage:

1. ``steering = RowSteering(edits, scopes, site=site)``: row ``r`` of the batch gets
   ``edits[r]`` (``None``: unsteered) at the positions of ``scopes[r]`` (``prompt``: the prefill
   call, ``generated``: the decoding calls, ``all``: both), as the server's batches do.
2. ``with steer_rows(model, steering, stop_token_ids=stops):`` run the prefill and the
   decoding calls; every hook is removed when the block ends. When no row is steered nothing
   is installed, and a layer that no row's edit names gets no hook.

The batch is planned once. Each row's edit is split into its parts (a composed request's
dimensions, applied one after the other in stages); each part is applied by the cheapest
operation that gives its exact result:

- a constant addition (``mean-diff``, its located sets and controls, ``add``: a part with
  ``additive(layer, dtype, device)``): one accumulating indexed add on the edited coordinates
  of all the sparse rows of a stage, one ``index_add_`` of the delta rows of all the rows whose
  edit covers the whole layer (a band: several times faster than adding every coordinate);
- the study's dynamic rule (:class:`~valuelocate.steering.dynamic.DynamicEdit`): each row draws
  from its own generator as it would alone (once per call and layer it edits, never out of
  scope; all of a call's draws in the root pre-hook, in layer order, since a small operation
  costs several times more between a layer's matrix products), then one indexed add for all
  rows' pushes and one ``scatter_reduce_`` (``amin`` with zeros) for all their clamps;
- any other edit: called with its row's values alone, its new values written back on its
  neurons at the row's in-scope positions.

(The operations themselves are in :mod:`valuelocate.steering.row_ops`.) When rows of a batch
end, :meth:`RowSteering.keep_rows` plans the rows that stay, their edits drawing on as before.

A root pre-hook reads which rows each forward call edits (one small reduction per call). A
layer hook returns at once when no row is active there; otherwise it edits the site's tensor
in place (a copy first only when autograd records it), never a copy of the whole layer, and
never the unsteered rows.

Exactness: the same floating-point operations as the reference, ``EditStack``'s row-by-row path
(what ``edit_neurons`` does for the row alone): ``a + delta`` is one IEEE addition of the same
two values whichever operation adds them; the dynamic delta is the same ``(gamma * w *
keep).to(dtype)`` (in a decoding call only the drawn neurons' are added: the others' is a zero,
which leaves every value equal), its clamp ``min(a, 0)``. So the results are equal
(tests/steering/test_rows.py: ``torch.equal``, bit for bit but for the sign of an exact zero).
Parts whose indices repeat take the general path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from valuelocate.architectures import ArchSpec, arch_for, decoder_layers, site_module
from valuelocate.hooks import Edit, HookSet, register_site_hook
from valuelocate.scope import ScopeTracker
from valuelocate.steering.compose import SCOPE_PHASES, EditStack
from valuelocate.steering.dynamic import DynamicEdit
from valuelocate.steering.row_ops import (
    AddOp,
    Call,
    DynamicOp,
    Op,
    OtherOp,
    add_ops,
    apply_dynamic,
    apply_other,
    draw,
    dynamic_op,
)
from valuelocate.vocab import Site


@runtime_checkable
class Additive(Protocol):
    """An edit that can say it is a constant addition at a layer: ``additive`` returns
    ``(indices [k], delta [k])`` when its edit there is exactly ``values[..., indices] + delta``
    (``delta`` already in ``dtype``), else ``None``."""

    def additive(
        self, layer: int, dtype: torch.dtype, device: torch.device
    ) -> tuple[Tensor, Tensor] | None: ...


def edit_parts(edit: Edit | None) -> list[Edit]:
    """``edit`` as the parts it applies one after the other (a composed edit, unwrapped)."""
    if edit is None:
        return []
    if not isinstance(edit, EditStack):
        return [edit]
    if edit.rows is None and edit.scopes is None and len(edit.groups) == 1:
        return [part for inner in edit.groups[0] for part in edit_parts(inner)]
    return [edit]


@dataclass
class _Stage:
    """The parts of one stage of one layer: row -> its part there, by how it is applied."""

    add: dict[int, Edit] = field(default_factory=dict)
    dynamic: dict[int, DynamicEdit] = field(default_factory=dict)
    other: dict[int, Edit] = field(default_factory=dict)


class RowSteering:
    """One edit per batch row with its own scope, planned once per batch (module docstring).

    Args:
        edits: per row, its edit or ``None``.
        scopes: per row, ``prompt``, ``generated`` or ``all``.
        site: the edits' site (default: their common one, ``act`` when there is none).

    Raises:
        ValueError: the edits are at different sites, or the lengths differ.
    """

    def __init__(
        self, edits: Sequence[Edit | None], scopes: Sequence[str], *, site: Site | None = None
    ) -> None:
        self.tracker: ScopeTracker | None = None
        # set by steer_rows while it applies this steering: hooks the layers it is given
        self.install: Callable[[Sequence[int]], None] | None = None
        # while True, this steering's hooks do nothing (another steering runs a row alone)
        self.paused = False
        self._site = site
        self.site: Site = site if site is not None else "act"
        self.layers: list[int] = []
        self._sited = site is not None  # a site fixed by the caller or by the first edits
        self.replan(edits, scopes)

    def replan(self, edits: Sequence[Edit | None], scopes: Sequence[str]) -> None:
        """Plan these rows instead: rows of a batch left it or joined it. Each row's edit goes
        on from where it is (a dynamic edit draws on); layers not yet hooked are hooked.

        Raises:
            ValueError: the edits are at different sites (or not at ``site``), or the lengths
                differ.
        """
        if len(edits) != len(scopes):
            raise ValueError(f"{len(edits)} edits for {len(scopes)} scopes")
        bad = sorted({s for s in scopes if s not in SCOPE_PHASES})
        if bad:
            raise ValueError(f"Unknown scope {bad[0]!r}; expected one of: prompt, generated, all")
        parts = [edit_parts(e) for e in edits]
        sites = {p.site for row in parts for p in row}
        if self._site is None and len(sites) > 1:
            raise ValueError(f"Row edits must share one site, got {sorted(sites)}")
        if self._site is None and self._sited and sites - {self.site}:
            raise ValueError(f"Row edits at {sorted(sites)} joined a batch steered at {self.site}")
        if not self._sited and sites:  # the first edits' site (act while there are none)
            self.site, self._sited = next(iter(sites)), True
        self.parts, self.scopes = parts, list(scopes)
        self._plan()
        if self.install is not None:
            self.install(self.layers)

    def _plan(self) -> None:
        """Sort every row's parts by layer, stage and how each is applied."""
        self.steered = [r for r, parts in enumerate(self.parts) if parts]
        self._stages: dict[int, list[_Stage]] = {}
        for row in self.steered:
            for depth, part in enumerate(self.parts[row]):
                for layer in part.layers():
                    stages = self._stages.setdefault(int(layer), [])
                    while len(stages) <= depth:
                        stages.append(_Stage())
                    self._sort(stages[depth], row, part, int(layer))
        self.layers = sorted(self._stages)
        # the stages a call draws for, in the order the forward visits their layers
        self._dynamic = [
            (layer, depth, stage)
            for layer in self.layers
            for depth, stage in enumerate(self._stages[layer])
            if stage.dynamic
        ]
        self._call: Call | None = None
        self._decode_ops: dict[tuple[int, tuple[int, ...], torch.dtype], list[Op]] = {}

    def keep_rows(self, keep: Sequence[int]) -> None:
        """Only the batch rows ``keep`` (in this order) stay in the batch from the next call
        on: the others have finished and left it. The kept rows' edits go on as they were (a
        dynamic edit draws on from where it is), so each row is edited as if nothing left."""
        self.parts = [self.parts[r] for r in keep]
        self.scopes = [self.scopes[r] for r in keep]
        self._plan()
        if self.tracker is not None:
            self.tracker.keep_rows(keep)

    @staticmethod
    def _sort(stage: _Stage, row: int, part: Edit, layer: int) -> None:
        if isinstance(part, DynamicEdit) and part.plans[layer].in_place():
            stage.dynamic[row] = part
        elif isinstance(part, Additive):
            stage.add[row] = part  # additive() may still say no for a dtype: checked then
        else:
            stage.other[row] = part

    # ------------------------------------------------------------------ per forward call

    def on_call(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """The root pre-hook: work out the scope, then which rows this call edits."""
        if self.paused:
            return
        tracker = self.tracker
        assert tracker is not None
        tracker.pre_hook(module, args, kwargs)
        mask = tracker.mask
        assert mask is not None
        phase = "prefill" if tracker.past == 0 else "decode"
        live = mask.any(dim=-1).tolist()
        active = tuple(r for r in self.steered if live[r] and phase in SCOPE_PHASES[self.scopes[r]])
        seq = int(mask.shape[1])
        positions = {r: r * seq + mask[r].nonzero().flatten() for r in active} if seq > 1 else {}
        self._call = Call(active, seq, mask, positions, drawn=self._draw(active))

    def _draw(self, active: tuple[int, ...]) -> dict[tuple[int, int], Tensor]:
        """This call's draws of every active dynamic edit, layer by layer in the order the
        forward visits the layers (each edit draws from its own generator, so each gets the
        sequence it gets alone): made here in one loop, not in each layer's hook, where every
        small operation runs after the layer's matrix products have swept the caches."""
        live, drawn = set(active), {}
        for layer, depth, stage in self._dynamic:
            edits = [e for r, e in stage.dynamic.items() if r in live]
            if edits:
                drawn[(layer, depth)] = draw(layer, edits)
        return drawn

    def on_layer(self, layer: int, values: Tensor) -> Tensor | None:
        """A site hook: edit ``values`` ``[batch, seq, neurons]`` in place (or a copy of it
        when autograd records it); ``None`` when nothing changes."""
        call = self._call
        if call is None or not call.active or self.paused:
            return None
        ops = self._ops(call, layer, values)
        if not ops:
            return None
        out = values
        if (torch.is_grad_enabled() and values.requires_grad) or not values.is_contiguous():
            out = values.clone(memory_format=torch.contiguous_format)
        flat = out.view(-1, out.shape[-1])  # [batch * seq, neurons]
        for op in ops:
            if isinstance(op, AddOp) and op.cols is None:
                flat.index_add_(0, op.rows, op.delta)
            elif isinstance(op, AddOp):
                flat.index_put_((op.rows, op.cols), op.delta, accumulate=True)
            elif isinstance(op, DynamicOp):
                apply_dynamic(op, flat, call.drawn[(layer, op.depth)])
            else:
                apply_other(op, layer, out, call)
        return None if out is values else out

    # ------------------------------------------------------------------ planning

    def _ops(self, call: Call, layer: int, values: Tensor) -> list[Op]:
        if call.seq > 1:  # a prefill: planned for this call only
            if layer not in call.ops:
                call.ops[layer] = self._build(layer, call, values)
            return call.ops[layer]
        key = (layer, call.active, values.dtype)
        ops = self._decode_ops.get(key)
        if ops is None:
            ops = self._decode_ops[key] = self._build(layer, call, values)
        return ops

    def _build(self, layer: int, call: Call, values: Tensor) -> list[Op]:
        """The operations of ``layer`` for the active rows, stage by stage."""
        device = values.device
        active = set(call.active)

        def where(row: int) -> Tensor:  # the row's in-scope flat positions
            if call.seq == 1:
                return torch.tensor([row], device=device)
            return call.positions[row].to(device)

        ops: list[Op] = []
        for depth, stage in enumerate(self._stages.get(layer, [])):
            added = [(r, part) for r, part in stage.add.items() if r in active]
            ops.extend(add_ops(layer, added, call, values))
            dynamic = [(r, e) for r, e in stage.dynamic.items() if r in active]
            if dynamic:
                ops.append(dynamic_op(layer, depth, dynamic, where, values))
            ops.extend(OtherOp(r, e) for r, e in stage.other.items() if r in active)
        return ops


@contextmanager
def steer_rows(
    model: nn.Module,
    steering: RowSteering,
    *,
    stop_token_ids: Sequence[int] | None = None,
    arch: ArchSpec | None = None,
) -> Iterator[RowSteering]:
    """Apply ``steering`` to ``model`` while the block runs; every hook is removed after.

    Installs nothing while no row is steered; otherwise a root pre-hook (the scope, and which
    rows each call edits) and one site hook per layer that some row's edit names, also for
    rows that join later (:meth:`RowSteering.replan`).

    Example:
        >>> steering = RowSteering([edit, None], ["all", "all"], site="act")
        >>> with torch.no_grad(), steer_rows(model, steering, stop_token_ids=stops):
        ...     logits = model(**batch).logits
    """
    spec = arch_for(model, arch)
    all_layers = decoder_layers(model, spec)
    hooks = HookSet()
    hooked: set[int] = set()

    def install(layers: Sequence[int]) -> None:
        """Hook ``layers`` (those not hooked yet); the root pre-hook with the first."""
        new = [i for i in layers if i not in hooked]
        bad = [i for i in new if not 0 <= i < len(all_layers)]
        if bad:
            raise ValueError(f"Layer index {bad[0]} out of range: the model has {len(all_layers)}")
        if new and not hooks.handles:
            steering.tracker = ScopeTracker("all", stop_token_ids=stop_token_ids)
            root = model.register_forward_pre_hook(steering.on_call, with_kwargs=True)
            hooks.handles.append(root)
        for index in new:
            module = site_module(all_layers[index], steering.site, spec)

            def on_values(values: Tensor, _index: int = index) -> Tensor | None:
                return steering.on_layer(_index, values)

            hooks.handles.append(register_site_hook(module, steering.site, on_values))
            hooked.add(index)

    try:
        install(steering.layers)  # nothing at all while no row is steered
        steering.install = install
        yield steering
    finally:
        hooks.remove()
        steering.install = None
        steering._call = None
