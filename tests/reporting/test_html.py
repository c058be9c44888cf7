"""`valuelocate.reporting.html`: the page's sections, embedded images, self-containment and
escaping, on a hand-made run directory (no model, no network)."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

from report_fixture import EVIL_ANSWER, make_run
from valuelocate.reporting import write_report

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


# The page in a real browser: tests/test_report_browser.py.
