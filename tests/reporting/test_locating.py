"""`valuelocate.reporting.locating`: the locating sections show the summary's figures."""

from __future__ import annotations

from pathlib import Path

from report_fixture import DIMENSIONS
from valuelocate.artifacts import read_json
from valuelocate.reporting.load import load_run
from valuelocate.reporting.locating import layers_section, overlap_section, sparsity_section


def test_sparsity_table_shows_counts_from_the_summary(full_report: Path) -> None:
    summary = read_json(full_report.parent / "summary.json")
    html_text = full_report.read_text()
    for dim in DIMENSIONS:
        for pole in ("affirm", "oppose"):
            info = summary["dimensions"][dim][pole]
            assert f"<td class=num>{info['count']:,}</td>" in html_text
            assert f"{info['percent']:.2f}%" in html_text


def test_each_section_is_built_from_the_run(full_report: Path) -> None:
    run = load_run(full_report.parent)
    sparsity = sparsity_section(run)
    for dim in DIMENSIONS:
        for pole in ("affirm", "oppose"):
            count = run.summary["dimensions"][dim][pole]["count"]
            assert f"<td class=num>{count:,}</td>" in sparsity
    html_text = full_report.read_text()
    for section in (sparsity, layers_section(run), overlap_section(run)):
        assert section.startswith("<section id=") and section in html_text
