"""The report's compare section: a plot and a table of every cell, shifts signed toward the
targeted pole, and the folder reader. (Its rendering from a real run is tested in
test_cli_compare.py.)"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from valuelocate.reporting.compare import compare_section, compare_section_from_dir, toward


def _row(cell: str, dimension: str, pole: str, shift: float, p: float) -> dict[str, Any]:
    return {
        "config": cell,
        "contrast": "descriptions",
        "selection": "band",
        "rule": "mean-diff",
        "dimension": dimension,
        "pole": pole,
        "gamma": 3.0,
        "cost": 1.08,
        "budget_reached": True,
        "n": 12,
        "shift": shift,
        "ci_low": shift - 0.05,
        "ci_high": shift + 0.05,
        "wrong_way": 0.25,
        "control_shift": 0.01,
        "p_control": p,
        "selectivity": math.nan,
        "neurons": 640,
        "seconds": 1.0,
    }


ROWS = [
    _row(cell, dim, pole, shift, p)
    for cell in ("desc+band+mean-diff", "desc+residual")
    for dim in ("conservation", "self_enhancement")
    for pole, shift, p in (("affirm", 0.2, 0.001), ("oppose", -0.3, 0.2))
] + [
    {
        **_row("prompt-baseline", "conservation", "affirm", 0.4, math.nan),
        "gamma": math.nan,
        "cost": math.nan,
        "control_shift": math.nan,
    },
]


def test_the_section_holds_a_figure_and_every_cell() -> None:
    html = compare_section(ROWS, chosen="desc+residual", budget="ppl=1.1")
    assert html.startswith('<section id="compare">')
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) == 1
    for cell in ("desc+band+mean-diff", "desc+residual", "prompt-baseline"):
        assert cell in html
    assert "<strong>desc+residual</strong>" in html and "ppl=1.1" in html
    # Oppose rows are shown toward their pole: a shift of -0.3 is +0.300 toward oppose, its
    # CI [-0.35, -0.25] becomes [+0.250, +0.350].
    assert "+0.300" in html and "[+0.250, +0.350]" in html
    assert "Dev split verdict" not in html


def test_toward_signs_by_pole() -> None:
    assert toward(ROWS[0]) == 0.2 and toward(ROWS[1]) == 0.3
    assert toward(ROWS[1], "control_shift") == -0.01


def test_from_a_folder(tmp_path: Path) -> None:
    assert compare_section_from_dir(tmp_path) is None
    (tmp_path / "grid.json").write_text(json.dumps(ROWS, allow_nan=True))
    (tmp_path / "verdict.json").write_text(json.dumps(ROWS[4:6], allow_nan=True))
    (tmp_path / "compare.json").write_text(
        json.dumps({"chosen": "desc+residual", "budget": "kl=0.05"})
    )
    html = compare_section_from_dir(tmp_path)
    assert html is not None
    assert "Dev split verdict" in html and "kl=0.05" in html
    assert html.count("<table>") == 2


def test_a_run_with_a_compare_folder_shows_the_grid_in_its_report(tmp_path: Path) -> None:
    from report_fixture import make_run
    from valuelocate.reporting import write_report

    run_dir = make_run(tmp_path / "run")
    assert 'id="compare"' not in write_report(run_dir).read_text()
    (run_dir / "compare").mkdir()
    (run_dir / "compare" / "grid.json").write_text(json.dumps(ROWS, allow_nan=True))
    html = write_report(run_dir).read_text()
    assert html.index('id="compare"') < html.index('id="sparsity"')
    assert '<a href="#compare">' in html
