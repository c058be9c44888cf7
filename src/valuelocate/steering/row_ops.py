"""The operations by which :mod:`valuelocate.steering.rows` edits a batch in place: what one
forward call edits (:class:`Call`), each edit shape's operation (:class:`AddOp` for constant
additions, :class:`DynamicOp` for the study's dynamic rule, :class:`OtherOp` for any other edit
on its row alone), how they are built for a layer and how they are applied. Each gives the
exact result of the reference path (``EditStack``'s row-by-row edit); see the docstring of
:mod:`valuelocate.steering.rows`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from valuelocate.hooks import Edit
from valuelocate.steering.dynamic import DynamicEdit


@dataclass
class AddOp:
    """``flat[rows, cols] += delta`` (one accumulating indexed add; the three broadcast
    together), or with ``cols`` ``None`` whole rows of the layer: ``flat[rows] += delta``."""

    rows: Tensor  # flat positions (row * seq + position)
    cols: Tensor | None  # neurons
    delta: Tensor  # values' dtype


@dataclass
class DynamicOp:
    edits: list[DynamicEdit]  # active rows' edits, in row order
    sizes: list[int]  # pushed neurons per edit
    offsets: Tensor  # [sum of the draws' sizes] each drawn index's edit's start in [sum k]
    gamma_weight: Tensor  # [sum k] float64: gamma * w, as DynamicEdit.edit computes it
    expand: Tensor | None  # [m] index into [sum k] per pushed entry (None: one position a row)
    push_rows: Tensor  # [m] flat positions
    push_cols: Tensor  # [m]
    clamp_rows: Tensor  # [c]
    clamp_cols: Tensor  # [c]


@dataclass
class OtherOp:  # any edit, on its row alone
    row: int
    edit: Edit


Op = AddOp | DynamicOp | OtherOp


@dataclass
class Call:
    """What the current forward call edits: the active rows and their in-scope positions."""

    active: tuple[int, ...]
    seq: int
    mask: Tensor  # [batch, seq] bool
    positions: dict[int, Tensor]  # row -> flat in-scope positions (only when seq > 1)
    ops: dict[int, list[Op]] = field(default_factory=dict)  # layer -> ops (seq > 1 only)


def add_ops(layer: int, rows: list[tuple[int, Edit]], call: Call, values: Tensor) -> list[Op]:
    """The constant additions of ``rows`` at one stage of ``layer``. In a decoding call (one
    position a row): every sparse row in one accumulating indexed add, every row that edits
    the whole layer (a band edit) in one ``index_add_`` of its delta rows. In a prefill, the
    same per row, over its in-scope positions."""
    device, dtype, width = values.device, values.dtype, values.shape[-1]
    ops: list[Op] = []
    sparse: list[tuple[Tensor, Tensor, Tensor]] = []  # (flat position, neurons, delta)
    whole: list[tuple[Tensor, Tensor]] = []  # (flat position, delta [width])
    for row, part in rows:
        folded = part.additive(layer, dtype, device)  # type: ignore[attr-defined]
        if folded is None:  # not additive here (repeated indices, half precision)
            ops.append(OtherOp(row, part))
            continue
        idx, delta = folded
        everything = idx.numel() == width and bool(
            (idx == torch.arange(width, device=device)).all()
        )
        if call.seq > 1:  # this row's positions, in one operation
            pos = call.positions[row].to(device)
            if everything:
                ops.append(AddOp(pos, None, delta.expand(pos.numel(), width)))
            else:
                ops.append(AddOp(pos[:, None], idx[None, :], delta[None, :]))
        elif everything:
            whole.append((torch.tensor([row], device=device), delta))
        else:
            sparse.append((torch.full((idx.numel(),), row, device=device), idx, delta))
    if sparse:
        ops.append(AddOp(*(torch.cat(parts) for parts in zip(*sparse, strict=True))))
    if whole:
        ops.append(
            AddOp(torch.cat([p for p, _ in whole]), None, torch.stack([d for _, d in whole]))
        )
    return ops


def dynamic_op(
    layer: int,
    rows: list[tuple[int, DynamicEdit]],
    where: Callable[[int], Tensor],
    seq: int,
    device: torch.device,
) -> DynamicOp:
    sizes, weights, expand, offsets = [], [], [], []
    push_rows, push_cols, clamp_rows, clamp_cols = [], [], [], []
    offset = 0
    for row, edit in rows:
        plan = edit.plans[layer]
        k = int(plan.push_index.numel())
        offsets.append(torch.full((round(edit.fraction * k) if k else 0,), offset))
        pos = where(row)
        push = plan.push_index.to(device)
        clamp = plan.clamp_index.to(device)
        sizes.append(k)
        weights.append(edit.gamma * plan.push_weight)
        push_rows.append(pos.repeat_interleave(k))
        push_cols.append(push.repeat(pos.numel()))
        expand.append((torch.arange(k, device=device) + offset).repeat(pos.numel()))
        clamp_rows.append(pos.repeat_interleave(clamp.numel()))
        clamp_cols.append(clamp.repeat(pos.numel()))
        offset += k
    return DynamicOp(
        [e for _, e in rows],
        sizes,
        torch.cat(offsets),
        torch.cat(weights).to(device),
        None if seq == 1 else torch.cat(expand),
        torch.cat(push_rows),
        torch.cat(push_cols),
        torch.cat(clamp_rows),
        torch.cat(clamp_cols),
    )


def apply_dynamic(op: DynamicOp, flat: Tensor) -> None:
    # One draw per call for each active row, as DynamicEdit.edit draws; all rows' marks are
    # then set in one operation (DynamicEdit.draw sets each row's own).
    drawn = torch.cat([e.draw_indices(k) for e, k in zip(op.edits, op.sizes, strict=True)])
    keep = torch.zeros(op.gamma_weight.numel(), dtype=torch.bool)
    keep[drawn + op.offsets] = True
    delta = (op.gamma_weight * keep.to(op.gamma_weight.device)).to(flat.dtype)
    if op.expand is not None:
        delta = delta[op.expand]
    flat.index_put_((op.push_rows, op.push_cols), delta, accumulate=True)
    if op.clamp_rows.numel():
        clamped = flat[op.clamp_rows, op.clamp_cols].clamp_(max=0)
        flat.index_put_((op.clamp_rows, op.clamp_cols), clamped)


def apply_other(op: OtherOp, layer: int, out: Tensor, call: Call) -> None:
    """Any edit, on its row alone, written back at the row's in-scope positions."""
    row = out[op.row : op.row + 1]  # [1, seq, neurons], a view
    idx, new = op.edit.edit(layer, row)
    if idx.numel() == 0:
        return
    idx = idx.to(out.device)
    new = new.to(out.dtype)
    if call.seq > 1:
        old = row.index_select(-1, idx)
        new = torch.where(call.mask[op.row][None, :, None].to(out.device), new, old)
    out[op.row].index_copy_(-1, idx, new[0])
