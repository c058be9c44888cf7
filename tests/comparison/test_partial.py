"""`valuelocate.comparison.partial`: a kept dimension reads back exactly, and only under the
key it was written with (the end-to-end resume is in test_verdict.py)."""

from __future__ import annotations

import math

import torch

from valuelocate.comparison.partial import Partial


def test_a_kept_dimension_reads_back_only_under_its_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = {"model": "m", "options": {"shuffles": 10}}
    kept = Partial(tmp_path / "partial", key)
    record = {"dimension": "conservation", "p": 0.125, "missing": math.nan, "n": 3}
    items = [{"id": "fc-1", "base": 0.1 + 0.2}]
    tensors = {"conservation.affirm.edit.3.delta": torch.tensor([0.5, -1.25], dtype=torch.float64)}
    assert kept.load("conservation") is None
    kept.save("conservation", record, items, tensors)
    back_record, back_items, back_tensors = kept.load("conservation")  # type: ignore[misc]
    assert back_items == items and back_record["p"] == 0.125 and math.isnan(back_record["missing"])
    assert torch.equal(back_tensors["conservation.affirm.edit.3.delta"], tensors[
        "conservation.affirm.edit.3.delta"])  # fmt: skip
    assert (
        Partial(tmp_path / "partial", {**key, "options": {"shuffles": 11}}).load("conservation")
        is None
    )  # another option: not reused
    kept.save_study(["conservation"], [{"row": 1}])
    assert kept.load_study(["conservation"]) == [{"row": 1}]
    assert kept.load_study(["conservation", "self_enhancement"]) is None
    kept.remove()
    assert not (tmp_path / "partial").exists()
