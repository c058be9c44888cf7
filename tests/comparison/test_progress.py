"""The verdict's progress share, by hand."""

from __future__ import annotations

import pytest

from valuelocate.comparison.progress import PARTS, STUDY, VerdictProgress


def test_shares_weigh_each_step_by_its_cost() -> None:
    seen: list[float] = []
    track = VerdictProgress(dimensions=2, study=True, report=seen.append)
    total = 2 + STUDY
    track.at(0, "reads", 0.5)
    track.at(0, "calibration", 0.5)
    track.at(1, "judging", 1.0)
    track.dimension_done(1)
    track.study_at(2.0)  # clipped: the study's row is done at 1
    expected = [
        PARTS["reads"] * 0.5 / total,
        (PARTS["reads"] + PARTS["calibration"] * 0.5) / total,
        (1 + PARTS["reads"] + PARTS["calibration"] + PARTS["judging"]) / total,
        2 / total,
        1.0,
    ]
    assert seen == pytest.approx(expected)
    assert sum(PARTS.values()) == pytest.approx(1.0)


def test_an_unknown_part_is_refused_and_no_report_is_fine() -> None:
    with pytest.raises(ValueError, match="unknown part"):
        VerdictProgress(dimensions=1).at(0, "nothing")
    VerdictProgress(dimensions=1).at(0, "reads")  # no report: nothing to tell
