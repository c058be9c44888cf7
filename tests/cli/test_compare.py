"""`valuelocate compare` end to end on the real stories260k model: the files, the chosen cell
(recomputed from the written rows by the fixed rule), the dev split read for that cell only,
the tables, the report section from the real output, and bad options refused before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from valuelocate.comparison.rows import GridRow
from valuelocate.comparison.run import rank
from valuelocate.reporting.compare import compare_section_from_dir

from tiny_models import STORIES

CELLS = ["desc+residual", "prompt-baseline", "desc+band+mean-diff"]
TINY = [
    "--model",
    str(STORIES),
    "--dimensions",
    "conservation",
    "--items-per-dimension",
    "3",
    "--test-items",
    "2",
    "--neutral-texts",
    "2",
    "--steps",
    "1",
    "--start-gamma",
    "2",
]


def _app() -> typer.Typer:
    from valuelocate.cli.compare import compare_command

    app = typer.Typer()
    app.command()(compare_command)
    return app


@pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")
def test_compare_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "compare"
    shown = CliRunner().invoke(
        _app(), [*TINY, "--cells", ",".join(CELLS), "--out", str(out)], env={"COLUMNS": "250"}
    )
    assert shown.exit_code == 0, shown.output
    for name in (
        "grid.json",
        "grid.csv",
        "verdict.json",
        "verdict.csv",
        "compare.json",
        "summary.md",
    ):
        assert (out / name).is_file(), name

    grid = [GridRow(**r) for r in json.loads((out / "grid.json").read_text())]
    assert [(r.config, r.pole) for r in grid] == [
        (c, p) for c in CELLS for p in ("affirm", "oppose")
    ]
    assert all(r.n == 3 and r.dimension == "conservation" for r in grid)
    record = json.loads((out / "compare.json").read_text())
    # The choice is the fixed rule applied to the written search rows; never the prompt.
    assert record["chosen"] == rank(grid, budget=1.10)[0].cell
    assert record["chosen"] in ("desc+residual", "desc+band+mean-diff")
    assert record["test_read"] is True and record["budget"] == "ppl=1.1"

    verdict = [GridRow(**r) for r in json.loads((out / "verdict.json").read_text())]
    assert {r.config for r in verdict} == {record["chosen"]}  # the dev split: chosen cell only
    assert [r.pole for r in verdict] == ["affirm", "oppose"]
    searched = {r.pole: r for r in grid if r.config == record["chosen"]}
    for r in verdict:
        assert r.n == 2  # --test-items
        assert r.gamma == searched[r.pole].gamma  # read at the search split's gamma
        assert r.cost <= 1.10

    for text in (
        "conservation: search split at ppl=1.1",
        "toward pole",
        "p vs control",
        f"Chosen on the search split: {record['chosen']}",
        "Dev split verdict",
    ):
        assert text in shown.output, text
    summary = (out / "summary.md").read_text()
    assert f"Dev split verdict: {record['chosen']}" in summary

    html = compare_section_from_dir(out)
    assert html is not None and "<img" in html
    for cell in CELLS:
        assert cell in html
    assert "Dev split verdict" in html


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--dimensions", "kindness"], "--dimensions"),
        (["--cells", "desc+band+mean-diff,nope"], "--cells"),
        (["--cells", "located+dynamic"], "--run-dir"),
        (["--budget", "ppl=0.9"], "--budget"),
        (["--budget", "watts=3"], "--budget"),
        (["--band", "9-3"], "--band"),
        (["--run-dir", "/nonexistent/run"], "--run-dir"),
    ],
)
def test_bad_options_are_refused_before_any_work(
    tmp_path: Path, args: list[str], flag: str
) -> None:
    out = tmp_path / "out"
    # An absent model: the option is refused before the model is even looked for.
    shown = CliRunner().invoke(_app(), ["--model", "/nonexistent/model", *args, "--out", str(out)])
    assert isinstance(shown.exception, ValueError), shown.output
    assert flag in str(shown.exception)
    assert not out.exists()


@pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")
@pytest.mark.parametrize(
    ("args", "flag"), [(["--band", "1-7"], "--band"), (["--layer", "5"], "--layer")]
)
def test_layers_outside_the_model_are_refused_before_any_reading(
    tmp_path: Path, args: list[str], flag: str
) -> None:
    out = tmp_path / "out"
    shown = CliRunner().invoke(_app(), [*TINY, *args, "--out", str(out)])
    assert isinstance(shown.exception, ValueError), shown.output
    assert flag in str(shown.exception) and "0-4" in str(shown.exception)  # 5 layers
    assert not out.exists()
