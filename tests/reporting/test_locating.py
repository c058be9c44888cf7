"""`valuelocate.reporting.locating`: the locating sections show the summary's figures."""

from __future__ import annotations

from pathlib import Path

from report_fixture import DIMENSIONS
from valuelocate.artifacts import read_json


def test_sparsity_table_shows_counts_from_the_summary(full_report: Path) -> None:
    summary = read_json(full_report.parent / "summary.json")
    html_text = full_report.read_text()
    for dim in DIMENSIONS:
        for pole in ("affirm", "oppose"):
            info = summary["dimensions"][dim][pole]
            assert f"<td class=num>{info['count']:,}</td>" in html_text
            assert f"{info['percent']:.2f}%" in html_text
