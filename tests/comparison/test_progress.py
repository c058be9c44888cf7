"""The verdict's progress share, by hand."""

from __future__ import annotations

import pytest

from valuelocate.comparison.progress import PARTS, STUDY, UNREAD, VerdictProgress


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


def test_an_unread_dimension_weighs_little_once_known() -> None:
    seen: list[float] = []
    track = VerdictProgress(dimensions=3, study=True, report=seen.append)
    track.unread(0)  # found unread after its persona reads
    track.dimension_done(0)
    track.at(1, "calibration", 0.5)
    track.dimension_done(1)
    track.unread(2)
    track.dimension_done(2)
    track.study_at(0.5)
    study = STUDY * 1 / 3  # one measured dimension of three reads the study's row
    total = UNREAD + 1 + UNREAD + study
    before = UNREAD + 2 + study * 2  # while dimension 2 may still be measured
    expected = [
        UNREAD / before,
        (UNREAD + PARTS["reads"] + PARTS["calibration"] * 0.5) / before,
        (UNREAD + 1) / before,
        (2 * UNREAD + 1) / total,
        (2 * UNREAD + 1 + study / 2) / total,
    ]
    assert seen == pytest.approx(expected)
    assert sorted(seen) == seen  # the share jumps ahead when a dimension is found unread
