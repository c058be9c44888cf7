"""One edit per batch row: :class:`RowEdits`, an :class:`~valuelocate.hooks.Edit` over a batch.

Row r gets ``edits[r]`` (or none), at the positions of its own scope, and its edit is called
exactly when the row has an in-scope position, as ``edit_neurons`` would call it for the row
alone, so a stochastic edit (the dynamic rule redraws at each call) sees the same sequence of
calls it would see if the request were served alone.

Rows whose edit is the study's :class:`~valuelocate.edits.DynamicEdit` take a vectorised path:
each still draws from its own generator (one draw per call, as ``DynamicEdit.edit`` does), but
the push and the clamp of all such rows are one tensor operation per layer, computed with the
same float operations in the same order as ``DynamicEdit.edit`` (``a + (gamma * w * keep)`` cast
to the values' dtype; ``min(a, 0)``), so the result is bit for bit the same. Any other edit
(composed dimensions, other rules) is called row by row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from valuelocate.architectures import Site
from valuelocate.edits import DynamicEdit
from valuelocate.hooks import Edit, ScopeTracker

# Which phases of a generation each scope covers: the engine prefills the prompt in one call
# and then decodes one generated token per call.
_PHASES: dict[str, tuple[str, ...]] = {
    "prompt": ("prefill",),
    "generated": ("decode",),
    "all": ("prefill", "decode"),
}


@dataclass
class _FastLayer:
    """The dynamic-rule rows of one layer, flattened: row r pushes ``idx`` by ``gw * keep``."""

    rows: list[int]  # batch rows, in order
    sizes: list[int]  # pushed neurons per row
    flat_rows: Tensor  # [sum k] long
    flat_idx: Tensor  # [sum k] long
    gamma_weight: Tensor  # [sum k] float64: gamma * w, as DynamicEdit computes it
    push: Tensor  # [batch, neurons] bool
    clamp: Tensor  # [batch, neurons] bool


class RowEdits:
    """An :class:`~valuelocate.hooks.Edit` for a batch: row ``r`` gets ``edits[r]`` (or none).

    Install it with ``edit_neurons(model, row_edits, scope="all")`` and set ``tracker`` to the
    tracker that block yields; set ``phase`` to ``prefill`` or ``decode`` before each forward.
    """

    def __init__(self, edits: Sequence[Edit | None], scopes: Sequence[str], site: Site) -> None:
        self.edits = list(edits)
        self.scopes = list(scopes)
        self.site = site
        self.phase = "prefill"
        self.tracker: ScopeTracker | None = None
        self._layers = {r: set(e.layers()) for r, e in enumerate(self.edits) if e is not None}
        self._fast: dict[tuple[int, str], _FastLayer | None] = {}

    def reset(self) -> None:
        """Restart every row's draws (the Edit protocol)."""
        for e in self.edits:
            if e is not None:
                e.reset()

    def layers(self) -> Iterable[int]:
        return sorted(set().union(*self._layers.values())) if self._layers else []

    def _fast_layer(self, layer: int, values: Tensor) -> _FastLayer | None:
        key = (layer, str(values.device))
        if key in self._fast:
            return self._fast[key]
        batch, neurons = values.shape[0], values.shape[-1]
        rows, sizes, flat_rows, flat_idx, weights = [], [], [], [], []
        push = torch.zeros(batch, neurons, dtype=torch.bool, device=values.device)
        clamp = torch.zeros_like(push)
        for row, edit in enumerate(self.edits):
            if not isinstance(edit, DynamicEdit) or layer not in edit.plans:
                continue
            plan = edit.plans[layer]
            k = int(plan.push_index.numel())
            rows.append(row)
            sizes.append(k)
            flat_rows.append(torch.full((k,), row, dtype=torch.long))
            flat_idx.append(plan.push_index)
            weights.append(edit.gamma * plan.push_weight)
            push[row, plan.push_index.to(values.device)] = True
            clamp[row, plan.clamp_index.to(values.device)] = True
        fast = None
        if rows:
            fast = _FastLayer(
                rows,
                sizes,
                torch.cat(flat_rows).to(values.device),
                torch.cat(flat_idx).to(values.device),
                torch.cat(weights).to(values.device),
                push,
                clamp,
            )
        self._fast[key] = fast
        return fast

    def edit(self, layer: int, values: Tensor) -> tuple[Tensor, Tensor]:
        if self.tracker is None:
            raise RuntimeError("RowEdits.tracker is not set")
        mask = self.tracker.mask_on(values.device).reshape(values.shape[:-1])  # [batch, seq]
        live = mask.any(dim=-1).tolist()
        active = [
            r
            for r, row_layers in self._layers.items()
            if live[r] and layer in row_layers and self.phase in _PHASES[self.scopes[r]]
        ]
        if not active:
            return values.new_empty(0).long(), values[..., :0]
        out = values
        fast = self._fast_layer(layer, values)
        if fast is not None and any(r in active for r in fast.rows):
            out = self._apply_fast(fast, set(active), values, mask)
        for row in active:
            edit = self.edits[row]
            if isinstance(edit, DynamicEdit):
                continue
            assert edit is not None
            idx, new = edit.edit(layer, values[row : row + 1])
            old = out[row].index_select(-1, idx)
            new_row = torch.where(mask[row][:, None], new[0].to(values.dtype), old)
            out = out.clone() if out is values else out
            out[row] = out[row].index_copy(-1, idx, new_row)
        return torch.arange(values.shape[-1], device=values.device), out

    def _apply_fast(
        self, fast: _FastLayer, active: set[int], values: Tensor, mask: Tensor
    ) -> Tensor:
        keeps = []
        for row, k in zip(fast.rows, fast.sizes, strict=True):
            edit = self.edits[row]
            assert isinstance(edit, DynamicEdit)
            # One draw per call for an active row, none otherwise, as DynamicEdit.edit draws.
            keeps.append(edit.draw(k) if row in active else torch.zeros(k, dtype=torch.bool))
        keep = torch.cat(keeps).to(values.device)
        delta = (fast.gamma_weight * keep).to(values.dtype)
        add = values.new_zeros(values.shape[0], values.shape[-1])
        add = add.index_put((fast.flat_rows, fast.flat_idx), delta)
        rows = torch.zeros(values.shape[0], dtype=torch.bool, device=values.device)
        rows[sorted(active & set(fast.rows))] = True
        here = (mask & rows[:, None]).unsqueeze(-1)  # [batch, seq, 1]
        pushed = values + add.unsqueeze(1)
        clamped = values.clamp(max=0)
        out = torch.where(fast.clamp.unsqueeze(1) & here, clamped, values)
        return torch.where(fast.push.unsqueeze(1) & here, pushed, out)
