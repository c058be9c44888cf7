"""`valuelocate.reporting.verdict`: the report's verdict section and the terminal summary, from
a hand-written version-2 verdict (tests/verdict_fixture.py) and a version-1 one."""

from __future__ import annotations

import base64
import copy
import math
import re
from pathlib import Path
from typing import Any

import pytest

from report_fixture import make_run
from valuelocate.reporting import write_report
from valuelocate.reporting.verdict import verdict_lines, verdict_section
from verdict_fixture import make_verdict

PNG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _text(html: str) -> str:
    """The page without its images (base64 may hold any three letters)."""
    return PNG.sub('src=""', html)


@pytest.fixture(scope="module")
def html() -> str:
    return verdict_section(make_verdict())


def test_the_section_opens_with_the_forest_plot_then_the_curve(html: str) -> None:
    assert html.startswith('<section id="verdict">')
    images = PNG.findall(html)
    assert len(images) == 2
    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    assert html.index('alt="Forest plot') < html.index('alt="Sparsity curve')


def test_one_sentence_per_dimension_names_the_nulls_it_beats(html: str) -> None:
    text = _text(html)
    # Conservation (forced choice): random sets p_holm 0.004, shuffles 0.006, word priming 0.21
    assert (
        "Conservation: on forced choice, the located 1% set (461 neurons) moves the reading by "
        "+0.12 nats between the poles, beyond random sets and label shuffles but not beyond "
        "word priming (Holm p = 0.21)"
    ) in text
    # ... and its decision pairs cannot read the model: said plainly.
    assert (
        "on decision pairs the persona prompt itself does not separate the poles, so the "
        "instrument cannot read this model"
    ) in text
    assert "beyond random sets, label shuffles and word priming" in text  # Openness: all three
    assert "the whole band (13,824 neurons) shifts the reading by only +0.03 nats" in text
    assert "not distinguishable from no edit (Holm p = 0.2)" in text
    assert "(label shuffles and word priming were not measured)" in text  # JSON nulls
    assert text.count("<li>Self-Enhancement: ") == 2  # a verdict and a curve sentence


def test_the_curve_sentences_name_the_sparsest_point_beating_its_nulls(html: str) -> None:
    text = _text(html)
    sparsest = "Conservation: on forced choice the sparsest point that beats both its nulls is 1% "
    assert sparsest in text
    assert "Self-Transcendence: on forced choice no point beats both its nulls" in text
    assert "the default is 2% (the sparsest point the dev rule accepted)" in text


def test_the_row_that_cannot_read_is_greyed_and_says_so(html: str) -> None:
    greyed = 'decision pairs<br><span class="small">instrument cannot read this model</span>'
    assert f'<span class="greyed">{greyed}</span>' in html
    assert '<span class="greyed">no</span>' in html
    assert html.count("greyed") == 11  # one row: the instrument and its 10 value cells


def test_the_table_formats_numbers_and_prints_nulls_as_a_dash(html: str) -> None:
    text = _text(html)
    assert "nan" not in text.lower()
    # conservation's edit gap, its CI below it
    assert '<td class=num>+0.12<br><span class="small">[+0.07, +0.17]</span></td>' in text
    assert "<td class=num>-0.02..+0.03</td>" in text  # its random band
    assert '2.40<br><span class="small">1.100 / —</span>' in text  # no oppose cost
    assert "<td class=num><b>0.004</b></td>" in text and "<td class=num>0.21</td>" in text
    assert "<td>band (13,824)</td>" in text


def test_the_linear_read_is_compared_with_the_exact_one(html: str) -> None:
    assert "Linearised / exact gap at the default point (forced choice): " in html
    assert "Conservation +0.11 / +0.12" in html  # linear.gap 0.1104, exact_gap 0.12


def test_the_study_rows_are_kept_as_a_short_table(html: str) -> None:
    text = _text(html)
    assert "<h3>The study's rule (replication)</h3>" in text
    assert "Conservation → affirm" in text and "+0.040 [-0.010, +0.090]" in text


def test_missing_and_nan_numbers_never_print_nan() -> None:
    verdict = make_verdict()
    dimension = verdict["dimensions"][0]
    dimension["readings"]["forced_choice"]["edit"]["gap"] = {"mean": math.nan, "ci_low": None}
    dimension["readings"]["decision_pairs"] = {}
    dimension["curve"] = [{"label": "0.1%", "fraction": None}]
    verdict["dimensions"].append({"dimension": "benevolence"})  # nothing measured at all
    html = verdict_section(verdict)
    assert "nan" not in _text(html).lower()
    assert "the edit&#x27;s gap was not measured" in html
    lines = verdict_lines(verdict)
    assert "nan" not in "\n".join(lines).lower()
    assert any(line.startswith("Benevolence ") for line in lines)


def test_data_is_escaped() -> None:
    verdict = {**make_verdict(), "budget": "<script>", "model": "<b>m</b>"}
    verdict["dimensions"][0]["default"]["label"] = "<i>"
    html = verdict_section(verdict)
    assert "<script>" not in html and "<i>" not in html


def test_the_title_leaves_out_a_model_the_file_does_not_name() -> None:
    verdict = make_verdict()
    del verdict["model"]
    assert verdict_lines(verdict)[0] == "Verdict · budget ppl=1.10 · alpha 0.01 · test split"


def test_an_unknown_version_says_so() -> None:
    html = verdict_section({"version": 3, "dimensions": []})
    assert 'id="verdict"' in html and "reads versions 1 and 2" in html
    assert "reads 1 and 2" in verdict_lines({"version": 3})[0]


def test_the_report_opens_with_the_verdict(tmp_path: Path) -> None:
    page = write_report(make_run(tmp_path, verdict=True)).read_text(encoding="utf-8")
    assert page.index('id="verdict"') < page.index('id="sparsity"')
    assert '<a href="#verdict">Verdict</a>' in page
    assert len(PNG.findall(page)) == 10  # the verdict's two and the eight below
    assert "nan" not in _text(page).lower()


# --------------------------------------------------------------------------------------------
# The terminal summary


def test_terminal_lines_fit_80_columns_and_never_print_nan() -> None:
    lines = verdict_lines(make_verdict(), report="runs/main-job/report.html")
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    text = "\n".join(lines)
    assert "nan" not in text.lower()
    assert lines[0] == "Verdict · model default · budget ppl=1.10 · alpha 0.01 · test split"
    for label in ("Openness to Change", "Conservation", "Self-Transcendence", "Self-Enhancement"):
        assert sum(line.startswith(label) for line in lines) == 2  # its row and its sentence
    assert lines[-1] == "Full report: runs/main-job/report.html"


def _row(lines: list[str], label: str) -> str:
    return next(line for line in lines if line.startswith(label) and "[" in line)


def test_terminal_marks_of_a_hand_worked_case() -> None:
    lines = verdict_lines(make_verdict())
    # Conservation, forced choice at alpha 0.01: moves 0.004 +, random 0.004 +, shuffles
    # 0.006 +, word priming 0.21 -; decision pairs cannot read the model: ? everywhere.
    assert _row(lines, "Conservation").split() == [
        "Conservation", "1%", "(461)", "+0.12", "[+0.07,", "+0.17]",
        "+", "+", "+", "-", "+0.02", "?", "?", "?", "?",
    ]  # fmt: skip
    assert _row(lines, "Openness to Change").endswith("+ + + +   +0.05 + - - -")
    assert _row(lines, "Self-Enhancement").endswith("+ + . .   +0.03 - - - -")  # nulls: "."
    header = next(line for line in lines if line.startswith("dimension"))
    assert header.split()[-5:] == ["gap", "M", "R", "S", "W"]
    text = " ".join(lines)
    assert "M moves at all, R beyond random sets" in text and "? the instrument cannot" in text


def test_the_a_b_reading_gets_its_own_line_with_its_marks() -> None:
    verdict = make_verdict()
    verdict["instruments"]["choice"] = "A/B choice reading, test split"
    openness = verdict["dimensions"][0]["readings"]
    openness["choice"] = copy.deepcopy(openness["forced_choice"])
    openness["choice"]["edit"]["gap"] = {"mean": 0.095, "ci_low": 0.068, "ci_high": 0.124}
    openness["choice"]["word_priming"]["p_holm"] = 0.5  # beats all but word priming
    verdict["summary"]["choice"] = {"beats_all": 0, "moves": 1, "reads": 1, "of": 1}
    for width in (80, 66):
        lines = verdict_lines(verdict, width=width)
        assert all(len(line) <= width for line in lines), max(lines, key=len)
    lines = verdict_lines(verdict)
    row = lines.index(_row(lines, "Openness to Change"))
    assert lines[row + 1].split() == ["A/B", "+0.10", "[+0.07,", "+0.12]", "+", "+", "+", "-"]
    assert _row(lines, "Conservation") == lines[row + 2]  # the others read no A/B: no line
    text = " ".join(lines)
    assert "A/B = the A/B choice reading" in text
    assert "A/B choice: beats every null in 0/1, moves in 1/1" in text
    assert "A/B =" not in " ".join(verdict_lines(make_verdict()))


def test_a_p_value_is_not_split_across_lines_and_narrow_widths_fit() -> None:
    for width in (80, 72, 66):
        lines = verdict_lines(make_verdict(), width=width)
        assert all(len(line) <= width for line in lines), (width, max(lines, key=len))
        assert not any(line.endswith("Holm p") or line.startswith("= ") for line in lines)


# --------------------------------------------------------------------------------------------
# Version 1: the old table still renders


def _v1_row(method: str, pole: str, shift: float, p: float, beats: bool) -> dict[str, object]:
    return {
        "method": method, "dimension": "conservation", "pole": pole, "gamma": 3.5,
        "cost": 1.093, "shift": shift, "ci_low": shift - 0.05, "ci_high": shift + 0.05,
        "control_shift": 0.01, "p_control": p, "beats_control": beats,
    }  # fmt: skip


VERDICT_V1: dict[str, Any] = {
    "budget": "ppl=1.1",
    "alpha": 0.01,
    "configs": {"default": "desc+band+mean-diff", "study": "study", "prompt": "prompt-baseline"},
    "rows": [
        _v1_row("default", "affirm", 0.12, 0.001, True),
        _v1_row("default", "oppose", 0.02, 0.4, False),
        _v1_row("study", "affirm", -0.01, 0.8, False),
        _v1_row("prompt", "affirm", 0.3, math.nan, False),
    ],
}


def test_a_version_1_verdict_counts_wins_per_method_and_shows_every_direction() -> None:
    html = verdict_section(copy.deepcopy(VERDICT_V1))
    assert 'id="verdict"' in html
    assert "<b>1/2</b> directions beat" in html  # default: one of two
    assert "<b>0/1</b> directions beat" in html  # study: none of one
    assert "Conservation → affirm" in html and "Conservation → oppose" in html
    assert "+0.120 [+0.070, +0.170]" in html  # the default's affirm shift and CI
    assert "+0.300 [+0.250, +0.350]" in html  # the prompt baseline beside it
    assert "<b>yes</b>" in html and "ppl=1.1" in html
    # The study did not judge conservation -> oppose: its cells are dashes, not zeros.
    oppose = html[html.index("Conservation → oppose") :]
    assert "–" in oppose.split("</tr>")[0]
    assert "nan" not in html.lower()


def test_a_version_1_verdict_in_the_terminal() -> None:
    lines = verdict_lines(copy.deepcopy(VERDICT_V1), report="r/report.html")
    assert "default (desc+band+mean-diff): 1/2 directions beat their control at p < 0.01" in lines
    assert lines[-1] == "Full report: r/report.html"
    assert all(len(line) <= 80 for line in lines)


def test_a_version_1_verdict_is_escaped() -> None:
    assert "<script>" not in verdict_section({**VERDICT_V1, "budget": "<script>"})
