"""Tests of :mod:`valuelocate.report` on a hand-made run directory (no model, no network)."""

from __future__ import annotations

import base64
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from report_fixture import DIMENSIONS, EVIL_ANSWER, make_run
from valuelocate.artifacts import ArtifactError, read_json
from valuelocate.cli.report import report_command
from valuelocate.reporting import load_run, parse_evaluation, write_report
from valuelocate.reporting.steering import leakage_section, reference_gamma

LOCATE_SECTIONS = {
    "sparsity": "Sparsity per dimension and pole",
    "layers": "Layer profile of the neurons",
    "overlap": "Overlap of the neuron sets",
}
EVALUATION_SECTIONS = {
    "dose-response": "Dose-response curves",
    "perplexity": "Perplexity cost",
    "leakage": "Leakage between dimensions",
    "examples": "Example answers",
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Collects what the tests look at: ids with their first heading, images, text, tags."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: dict[str, str] = {}
        self.images: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self._open_id: str | None = None
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if tag in ("section", "footer") and values.get("id"):
            self._open_id = values["id"]
        if tag == "h2" and self._open_id:
            self._in_h2 = True
        if tag == "img":
            self.images.append(values.get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_h2 = False
            self._open_id = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_h2 and self._open_id:
            self.headings[self._open_id] = self.headings.get(self._open_id, "") + data


def _parse(path: Path) -> tuple[str, _Page]:
    page = path.read_text(encoding="utf-8")
    parser = _Page()
    parser.feed(page)
    return page, parser


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One report with evaluation, shared by the tests that only read it (plots take seconds)."""
    return write_report(make_run(tmp_path_factory.mktemp("full")))


def test_every_section_has_its_id_and_heading(full_report: Path) -> None:
    _, page = _parse(full_report)
    expected = {**LOCATE_SECTIONS, **EVALUATION_SECTIONS, "details": "Run details"}
    assert page.headings == expected


def test_report_is_written_atomically_into_the_run_dir(full_report: Path) -> None:
    assert full_report.name == "report.html"
    assert not list(full_report.parent.glob(".report.html.*"))  # no temporary left behind


def test_images_are_embedded_pngs(full_report: Path) -> None:
    _, page = _parse(full_report)
    # sparsity, layers, overlap, questionnaire, judge, perplexity, degenerate, leakage
    assert len(page.images) == 8
    for src in page.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :], validate=True).startswith(PNG_MAGIC)


def test_page_is_self_contained(full_report: Path) -> None:
    html_text, page = _parse(full_report)
    assert "http://" not in html_text and "https://" not in html_text
    assert not {"script", "link", "iframe", "object", "embed"} & set(page.tags)
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", html_text)  # only data: and #anchors
    assert "default-src 'none'" in html_text  # the CSP forbids loading anything


def test_text_from_data_is_escaped(full_report: Path) -> None:
    html_text, page = _parse(full_report)
    assert "<script>" not in html_text
    assert "<b>never</b>" not in html_text
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt; &amp; I would" in html_text
    assert EVIL_ANSWER in "".join(page.text)  # ... and reads as the model wrote it


def test_sparsity_table_shows_counts_from_the_summary(full_report: Path) -> None:
    summary = read_json(full_report.parent / "summary.json")
    html_text = full_report.read_text()
    for dim in DIMENSIONS:
        for pole in ("affirm", "oppose"):
            info = summary["dimensions"][dim][pole]
            assert f"<td class=num>{info['count']:,}</td>" in html_text
            assert f"{info['percent']:.2f}%" in html_text


def test_footer_shows_model_command_and_versions(full_report: Path) -> None:
    html_text = full_report.read_text()
    footer = html_text[html_text.index('<footer id="details">') :]
    assert "SmolLM2-135M-Instruct" in footer
    assert "valuelocate locate --prompts-per-pole 64 --out runs/smol" in footer
    assert "torch 2.13.0" in footer
    assert "Evaluation options" in footer


def test_report_without_evaluation_says_so(tmp_path: Path) -> None:
    path = write_report(make_run(tmp_path, evaluation=False))
    _, page = _parse(path)
    assert set(LOCATE_SECTIONS) <= set(page.headings)
    assert not set(EVALUATION_SECTIONS) & set(page.headings)
    text = " ".join("".join(page.text).split())
    assert "Evaluation has not been run" in text
    assert "valuelocate evaluate" in text


def test_missing_run_dir_or_summary_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ArtifactError, match="nope"):
        write_report(missing)
    (tmp_path / "run").mkdir()
    with pytest.raises(ArtifactError, match=r"summary\.json"):
        write_report(tmp_path / "run")
    (tmp_path / "run" / "summary.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="corrupt"):
        write_report(tmp_path / "run")


def test_foreign_results_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not a ValueLocate evaluation"):
        parse_evaluation({"scores": []}, source=tmp_path / "results.json")
    bad = {"format": "valuelocate.Evaluation", "scores": [{"measure": "questionnaire"}]}
    with pytest.raises(ArtifactError, match="malformed"):
        parse_evaluation(bad, source=tmp_path / "results.json")


def test_unknown_result_fields_are_ignored(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    path = run_dir / "evaluation" / "results.json"
    data = json.loads(path.read_text())
    data["scores"][0]["added_in_a_later_version"] = 1
    path.write_text(json.dumps(data))
    evaluation = load_run(run_dir).evaluation
    assert evaluation is not None and len(evaluation.rows) == len(data["scores"])


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


def test_command_prints_the_path(tmp_path: Path) -> None:
    import typer

    app = typer.Typer()
    app.command()(report_command)
    run_dir = make_run(tmp_path, evaluation=False)
    result = CliRunner().invoke(app, [str(run_dir)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(run_dir / "report.html")


# The page in a real browser: tests/test_report_browser.py.
