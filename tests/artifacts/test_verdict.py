"""The verdict's files read back without a model: ``write_verdict`` then ``load_verdict``,
``load_default_edits`` and ``run_edit`` give the edits and gammas written, and a run without
a verdict, or without a direction, says so."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from valuelocate.artifacts.files import ArtifactError
from valuelocate.artifacts.verdict import (
    VERDICT_DIR,
    edit_tensors,
    load_default_edits,
    load_verdict,
    run_edit,
    write_verdict,
)
from valuelocate.steering.mean_diff import MeanDiffEdit


def _edit(scale: float) -> MeanDiffEdit:
    return MeanDiffEdit(
        {1: torch.tensor([0, 3]), 2: torch.tensor([5])},
        {1: torch.tensor([scale, -scale], dtype=torch.float64), 2: torch.tensor([2 * scale])},
        1.0,
        "act",
        "band",
    )


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    rows = [
        {"method": "default", "dimension": "conservation", "pole": "affirm", "gamma": 2.5},
        {"method": "default", "dimension": "conservation", "pole": "oppose", "gamma": math.nan},
        {"method": "study", "dimension": "conservation", "pole": "affirm", "gamma": 9.0},
    ]
    tensors = {}
    for pole, scale in (("affirm", 1.0), ("oppose", 3.0)):
        tensors.update(edit_tensors(f"conservation.{pole}.edit", _edit(scale)))
        tensors.update(edit_tensors(f"conservation.{pole}.control", _edit(-scale)))
    write_verdict(tmp_path, {"rows": rows}, tensors, "band")
    return tmp_path


def test_the_record_reads_back_as_written(run_dir: Path) -> None:
    assert (run_dir / VERDICT_DIR / "edits.safetensors").is_file()
    data = load_verdict(run_dir)
    assert [r["method"] for r in data["rows"]] == ["default", "default", "study"]


def test_default_edits_carry_the_written_tensors_and_gammas(run_dir: Path) -> None:
    edits = load_default_edits(run_dir)
    assert set(edits) == {
        ("conservation", pole, control) for pole in ("affirm", "oppose") for control in (0, 1)
    }
    edit, gamma = edits[("conservation", "affirm", False)]
    assert gamma == 2.5 and edit.gamma == 1.0 and edit.kind == "band"
    assert list(edit.indices) == [1, 2]
    assert edit.indices[1].tolist() == [0, 3] and edit.deltas[2].tolist() == [2.0]
    # indices are int32 on disk and int64 again in the edit, the deltas float64 throughout
    with safe_open(str(run_dir / VERDICT_DIR / "edits.safetensors"), "pt") as handle:
        assert handle.get_tensor("conservation.affirm.edit.1.index").dtype == torch.int32
        assert handle.get_tensor("conservation.affirm.edit.1.delta").dtype == torch.float64
    assert all(i.dtype == torch.int64 for i in edit.indices.values())
    control, _ = edits[("conservation", "affirm", True)]
    assert control.kind == "band-control" and control.deltas[1].tolist() == [-1.0, 1.0]
    assert edits[("conservation", "oppose", False)][1] == 0.0  # a gamma that did not calibrate


def test_run_edit_applies_the_calibrated_gamma_unless_given(run_dir: Path) -> None:
    assert run_edit(run_dir, "conservation", "affirm").gamma == 2.5
    assert run_edit(run_dir, "conservation", "affirm", gamma=0.5).gamma == 0.5
    control = run_edit(run_dir, "conservation", "oppose", control=True)
    assert control.deltas[1].tolist() == [-3.0, 3.0]


def test_missing_directions_and_files_are_reported(run_dir: Path) -> None:
    with pytest.raises(ValueError, match="no default edit for openness.affirm"):
        run_edit(run_dir, "openness", "affirm")
    with pytest.raises(ValueError, match="Unknown pole"):
        run_edit(run_dir, "conservation", "neither")
    (run_dir / VERDICT_DIR / "edits.safetensors").unlink()
    with pytest.raises(ArtifactError, match="did not finish"):
        load_default_edits(run_dir)
