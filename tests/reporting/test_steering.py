"""`valuelocate.reporting.steering`: the evaluation's sections (reference gamma, leakage,
gaps for missing figures)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from report_fixture import make_run
from valuelocate.reporting import load_run
from valuelocate.reporting.steering import leakage_section, reference_gamma


def test_null_figures_become_gaps(tmp_path: Path) -> None:
    # evaluate writes a figure without units (NaN) as null; the report must still render.
    run_dir = make_run(tmp_path)
    path = run_dir / "evaluation" / "results.json"
    data = json.loads(path.read_text())
    for row in data["scores"][:40] + data["leakage"][:5]:
        for key in ("mean", "shift", "ci_low", "ci_high"):
            if key in row:
                row[key] = None
    path.write_text(json.dumps(data))
    run = load_run(run_dir)
    assert run.evaluation is not None and math.isnan(run.evaluation.rows[0].mean)
    html_text = leakage_section(run, run.evaluation)
    assert html_text.count("data:image/png;base64,") == 1
    assert "<td class=num>–</td>" in html_text  # a missing shift is a dash in the table


@pytest.mark.parametrize(
    ("gammas", "expected"),
    [([0.5, 1.0, 1.5], 1.0), ([0.25, 0.75, 2.0], 0.75), ([1.5, 2.0], 1.5), ([None], None)],
)
def test_reference_gamma_is_one_or_the_largest_below(
    gammas: list[float | None], expected: float | None
) -> None:
    assert reference_gamma(gammas) == expected


def test_leakage_uses_the_reference_gamma(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path, gammas=[0.25, 0.75, 2.0]))
    assert run.evaluation is not None
    assert "gamma = 0.75" in leakage_section(run, run.evaluation)
