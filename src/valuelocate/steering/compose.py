"""Combining edits: :class:`EditStack`, the one :class:`~valuelocate.hooks.Edit` made of others.

A batch is split into groups of rows (``rows`` per group; ``None``: one group, the whole batch);
group ``k`` gets ``groups[k]``: no edit, one edit, or several applied one after the other at
each layer, each seeing the previous one's output (what nested ``edit_neurons`` blocks do).
Each group's edits see only its own rows, so a group's result is the same as in a batch of its
own (a stochastic edit draws once per forward call either way). The three uses:

- several dimensions' edits stacked on the same rows: ``compose([a, b])``;
- one edit per block of rows (several settings generated in one wide batch):
  ``EditStack([a, None, b], rows=block)``;
- one edit per batch row with its own scope: ``EditStack(edits, rows=1, scopes=scopes,
  site=site)``, the reference for the server's batches (which apply their rows' edits in place
  with :mod:`valuelocate.steering.rows`, bit for bit the same, faster). The stack then
  decides the scope itself: install it with
  ``edit_neurons(model, stack, scope="all")``, set ``tracker`` to the tracker that block yields
  and ``phase`` to ``prefill`` or ``decode`` before each forward. Row r's edit is called
  exactly when the row has an in-scope position, as ``edit_neurons`` would call it for the row
  alone. Rows whose edit is the study's :class:`~valuelocate.steering.dynamic.DynamicEdit` take
  a vectorised path: each still draws from its own generator (one draw per call, as
  ``DynamicEdit.edit`` does), but the push and the clamp of all such rows are one tensor
  operation per layer, computed with the same float operations in the same order as
  ``DynamicEdit.edit`` (``a + (gamma * w * keep)`` cast to the values' dtype; ``min(a, 0)``),
  so the result is bit for bit the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from valuelocate.hooks import Edit
from valuelocate.scope import ScopeTracker
from valuelocate.steering.dynamic import DynamicEdit
from valuelocate.vocab import Site

# Which phases of a generation each scope covers: the engine prefills the prompt in one call
# and then decodes one generated token per call.
SCOPE_PHASES: dict[str, tuple[str, ...]] = {
    "prompt": ("prefill",),
    "generated": ("decode",),
    "all": ("prefill", "decode"),
}

Group = Edit | Sequence[Edit] | None


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


def _apply_in_order(edits: Sequence[Edit], layer: int, values: Tensor) -> tuple[Tensor, Tensor]:
    """``edits`` one after the other at ``layer``; ``(indices, new values)`` of all they touch."""
    here = [e for e in edits if layer in set(e.layers())]
    if len(here) == 1:
        return here[0].edit(layer, values)
    current = values
    touched: list[Tensor] = []
    for e in here:
        idx, new = e.edit(layer, current)
        current = current.index_copy(-1, idx, new.to(current.dtype))
        touched.append(idx)
    union = torch.unique(torch.cat(touched)) if touched else values.new_empty(0).long()
    return union, current.index_select(-1, union)


class EditStack:
    """Edits combined over a batch (see the module docstring).

    Args:
        groups: per group of rows, its edit, its edits (applied in order) or ``None``.
        rows: rows per group; ``None``: one group covering the whole batch.
        scopes: per group, its scope (then ``rows`` must be 1, and ``tracker`` and ``phase``
            are set by the caller); ``None``: the scope of the ``edit_neurons`` block.
        site: the edits' site (default: their common one, ``act`` when there is none).

    Raises:
        ValueError: the edits are at different sites, or ``scopes`` with ``rows`` other than 1.
    """

    def __init__(
        self,
        groups: Sequence[Group],
        *,
        rows: int | None = None,
        scopes: Sequence[str] | None = None,
        site: Site | None = None,
    ) -> None:
        self.groups: list[list[Edit]] = [
            [] if g is None else list(g) if isinstance(g, list | tuple) else [g]  # type: ignore[list-item]
            for g in groups
        ]
        self.rows = rows
        if scopes is not None and rows != 1:
            raise ValueError("Per-row scopes need one row per group (rows=1)")
        if rows is None and len(self.groups) > 1:
            raise ValueError("Several groups need their rows per group (rows=...)")
        self.scopes = list(scopes) if scopes is not None else None
        if site is None:  # the edits' common site
            sites = {e.site for group in self.groups for e in group}
            if len(sites) > 1:
                raise ValueError(f"Stacked edits must share one site, got {sorted(sites)}")
            site = next(iter(sites), "act")
        self.site: Site = site  # type: ignore[assignment]
        self.phase = "prefill"
        self.tracker: ScopeTracker | None = None
        self._layers = [set().union(*(e.layers() for e in group)) for group in self.groups]
        self._single = [group[0] if len(group) == 1 else None for group in self.groups]
        self._fast: dict[tuple[int, str], _FastLayer | None] = {}

    def layers(self) -> Iterable[int]:
        return sorted(set().union(*self._layers))

    def keep_rows(self, keep: Sequence[int]) -> None:
        """Only the batch rows ``keep`` (in this order) stay in the batch from the next call
        on (one edit per row: ``rows=1``): the others finished and left it."""
        if self.rows != 1:
            raise ValueError("keep_rows needs one row per group (rows=1)")
        self.groups = [self.groups[r] for r in keep]
        if self.scopes is not None:
            self.scopes = [self.scopes[r] for r in keep]
        self._layers = [self._layers[r] for r in keep]
        self._single = [self._single[r] for r in keep]
        self._fast = {}  # planned for the old rows
        if self.tracker is not None:
            self.tracker.keep_rows(keep)

    def reset(self) -> None:
        """Restart every part's draws (the Edit protocol)."""
        for group in self.groups:
            for e in group:
                e.reset()

    def edit(self, layer: int, values: Tensor) -> tuple[Tensor, Tensor]:
        if self.scopes is not None:
            return self._per_row(layer, values)
        if self.rows is None:  # one group: the whole batch
            return _apply_in_order(self.groups[0] if self.groups else [], layer, values)
        parts = []
        for k, group in enumerate(self.groups):
            if group and layer in self._layers[k]:
                rows = slice(k * self.rows, (k + 1) * self.rows)
                parts.append((rows, *_apply_in_order(group, layer, values[rows])))
        index = torch.unique(torch.cat([p[1].to(values.device) for p in parts]))  # [m], sorted
        new = values.index_select(-1, index)  # [batch, seq, m], a copy
        for rows, sub_index, sub_values in parts:
            where = torch.searchsorted(index, sub_index.to(values.device))  # [k]
            new[rows].index_copy_(-1, where, sub_values.to(new.dtype))
        return index, new

    # ------------------------------------------------------------- one edit per row

    def _fast_layer(self, layer: int, values: Tensor) -> _FastLayer | None:
        key = (layer, str(values.device))
        if key in self._fast:
            return self._fast[key]
        batch, neurons = values.shape[0], values.shape[-1]
        rows, sizes, flat_rows, flat_idx, weights = [], [], [], [], []
        push = torch.zeros(batch, neurons, dtype=torch.bool, device=values.device)
        clamp = torch.zeros_like(push)
        for row, edit in enumerate(self._single):
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

    def _per_row(self, layer: int, values: Tensor) -> tuple[Tensor, Tensor]:
        assert self.scopes is not None
        if self.tracker is None:
            raise RuntimeError("EditStack.tracker is not set")
        mask = self.tracker.mask_on(values.device).reshape(values.shape[:-1])  # [batch, seq]
        live = mask.any(dim=-1).tolist()
        active = [
            r
            for r, row_layers in enumerate(self._layers)
            if self.groups[r]
            and live[r]
            and layer in row_layers
            and self.phase in SCOPE_PHASES[self.scopes[r]]
        ]
        if not active:
            return values.new_empty(0).long(), values[..., :0]
        out = values
        fast = self._fast_layer(layer, values)
        if fast is not None and any(r in active for r in fast.rows):
            out = self._apply_fast(fast, set(active), values, mask)
        for row in active:
            if isinstance(self._single[row], DynamicEdit):
                continue
            idx, new = _apply_in_order(self.groups[row], layer, values[row : row + 1])
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
            edit = self._single[row]
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


def compose(edits: Sequence[Edit], site: Site | None = None) -> Edit:
    """``edits`` applied one after the other on the same rows (the only one if just one)."""
    return edits[0] if len(edits) == 1 else EditStack([list(edits)], site=site)
