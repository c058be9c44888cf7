"""The fast path's dynamic-rule operation against each row's own ``DynamicEdit.edit`` (the
reference), in a decoding call (one position a row) and in a prefill (in-scope positions)."""

from __future__ import annotations

import pytest
import torch

from valuelocate.steering.dynamic import DynamicEdit, _LayerPlan
from valuelocate.steering.row_ops import apply_dynamic, draw, dynamic_op


def _edits(seeds: tuple[int, ...]) -> list[DynamicEdit]:
    def plan() -> dict[int, _LayerPlan]:
        push = torch.tensor([0, 2, 5, 7])
        weight = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
        return {0: _LayerPlan(push, weight, torch.tensor([1, 3]))}

    return [DynamicEdit(plan(), gamma=0.5, fraction=0.5, seed=s) for s in seeds]


@pytest.mark.parametrize("steered", [(0, 2), (1,)])
def test_a_decoding_call_edits_each_row_as_its_own_edit_would(steered: tuple[int, ...]) -> None:
    values = torch.randn(3, 1, 8, generator=torch.Generator().manual_seed(0))
    edits, references = _edits((1, 2, 3)), _edits((1, 2, 3))
    rows = [(r, edits[r]) for r in steered]  # the others are not steered
    op = dynamic_op(0, 0, rows, lambda r: torch.tensor([r]), values)
    for _ in range(3):  # three calls: the draws go on from where they were
        out = values.clone()
        apply_dynamic(op, out.view(-1, 8), draw(0, [e for _, e in rows]))
        expected = values.clone()
        for r in steered:
            idx, new = references[r].edit(0, values[r : r + 1])
            expected[r, :, idx] = new[0]
        assert torch.equal(out, expected)
        for r in set(range(3)) - set(steered):
            assert torch.equal(out[r], values[r])
        values = out  # the next call edits this one's result, as the next step's would


def test_a_prefill_edits_only_the_in_scope_positions() -> None:
    seq = 4
    values = torch.randn(2, seq, 8, generator=torch.Generator().manual_seed(1))
    edits, references = _edits((5, 6)), _edits((5, 6))
    scope = {0: torch.tensor([1, 2, 3]), 1: torch.tensor([seq + 3])}  # flat positions
    op = dynamic_op(0, 0, list(enumerate(edits)), lambda r: scope[r], values)
    out = values.clone()
    apply_dynamic(op, out.view(-1, 8), draw(0, edits))
    expected = values.clone()
    for r, positions in ((0, [1, 2, 3]), (1, [3])):
        idx, new = references[r].edit(0, values[r : r + 1])
        for p in positions:
            expected[r, p, idx] = new[0, p]
    assert torch.equal(out, expected)
    assert torch.equal(out[0, 0], values[0, 0])
