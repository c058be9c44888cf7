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
    """The dynamic rule's push and clamp for every active row of one stage of a layer, as
    indices into the flattened ``[batch * seq, neurons]`` site tensor. Few dispatches on
    purpose: after a layer's matrix products have swept the caches, each small operation
    costs several times what it costs in a loop of its own (2026-12-06, on the embedded
    model: a ``randperm`` 33 against 3.5 microseconds), which is also why the draws are made
    before the forward (:func:`draw`), not here."""

    depth: int  # the stage: where this call's draws are in ``Call.drawn``
    gamma_weight: Tensor  # [sum k] float64: gamma * w, as DynamicEdit.edit computes it
    pushes: Tensor  # [sum k] gamma * w in the values' dtype: a drawn neuron's delta
    expand: Tensor | None  # [m] index into [sum k] per pushed entry (None: one position a row)
    push_flat: Tensor  # [m] flat indices into the site tensor (position * neurons + neuron)
    clamp_flat: Tensor  # [c]
    clamp_zeros: Tensor  # [c] zeros in the values' dtype: the clamp is min(a, 0)


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
    drawn: dict[tuple[int, int], Tensor] = field(default_factory=dict)  # (layer, stage) -> draw


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


def draw(layer: int, edits: list[DynamicEdit]) -> Tensor:
    """One forward call's draw of each edit at ``layer`` (``DynamicEdit.draw_indices``, each
    from its own generator, as the edit draws alone), as indices into the edits' pushed
    neurons laid end to end in this order: what :func:`apply_dynamic` adds."""
    draws, start = [], 0
    for edit in edits:
        k = int(edit.plans[layer].push_index.numel())
        drawn = edit.draw_indices(k)
        draws.append(drawn + start if start else drawn)
        start += k
    return draws[0] if len(draws) == 1 else torch.cat(draws)


def dynamic_op(
    layer: int,
    depth: int,
    rows: list[tuple[int, DynamicEdit]],
    where: Callable[[int], Tensor],
    values: Tensor,
) -> DynamicOp:
    """The :class:`DynamicOp` of ``rows`` at stage ``depth`` of ``layer`` for site tensors like
    ``values`` ``[batch, seq, neurons]``; ``where(row)``: the row's in-scope flat positions."""
    device, width = values.device, values.shape[-1]
    weights, expand, push_flat, clamp_flat = [], [], [], []
    offset = 0
    for row, edit in rows:
        plan = edit.plans[layer]
        k = int(plan.push_index.numel())
        pos = where(row) * width
        push = plan.push_index.to(device)
        clamp = plan.clamp_index.to(device)
        weights.append(edit.gamma * plan.push_weight)
        push_flat.append((pos[:, None] + push[None, :]).flatten())
        expand.append((torch.arange(k, device=device) + offset).repeat(pos.numel()))
        clamp_flat.append((pos[:, None] + clamp[None, :]).flatten())
        offset += k
    gamma_weight = torch.cat(weights).to(device)
    clamps = torch.cat(clamp_flat)
    return DynamicOp(
        depth,
        gamma_weight,
        gamma_weight.to(values.dtype),
        None if values.shape[1] == 1 else torch.cat(expand),
        torch.cat(push_flat),
        clamps,
        torch.zeros(clamps.numel(), dtype=values.dtype, device=device),
    )


def apply_dynamic(op: DynamicOp, flat: Tensor, drawn: Tensor) -> None:
    """Push the ``drawn`` neurons (:func:`draw`) and clamp the others' pole, in place."""
    if drawn.device != op.push_flat.device:
        drawn = drawn.to(op.push_flat.device)
    if op.expand is None:
        # One position a row: add the drawn neurons' deltas only. DynamicEdit.edit adds
        # ``gamma * w * 0`` to the others, a zero: their values stay equal (only the sign of
        # an exact zero activation can differ, which no later product sees).
        flat.put_(op.push_flat[drawn], op.pushes[drawn], accumulate=True)
    else:
        keep = torch.zeros(op.gamma_weight.numel(), dtype=torch.bool, device=drawn.device)
        keep[drawn] = True
        delta = (op.gamma_weight * keep).to(flat.dtype)
        flat.put_(op.push_flat, delta[op.expand], accumulate=True)
    if op.clamp_flat.numel():  # min(a, 0) in place: clamp(max=0)'s values, NaN and signs too
        flat.view(-1).scatter_reduce_(0, op.clamp_flat, op.clamp_zeros, "amin")


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
