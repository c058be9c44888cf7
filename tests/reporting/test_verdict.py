"""The report's verdict section, from a hand-written verdict: counts, cells, and dashes."""

from __future__ import annotations

import math

from valuelocate.reporting.verdict import verdict_section


def _row(method: str, pole: str, shift: float, p: float, beats: bool) -> dict[str, object]:
    return {
        "method": method, "dimension": "conservation", "pole": pole, "gamma": 3.5,
        "cost": 1.093, "shift": shift, "ci_low": shift - 0.05, "ci_high": shift + 0.05,
        "control_shift": 0.01, "p_control": p, "beats_control": beats,
    }  # fmt: skip


VERDICT = {
    "budget": "ppl=1.1",
    "alpha": 0.01,
    "configs": {"default": "desc+band+mean-diff", "study": "study", "prompt": "prompt-baseline"},
    "rows": [
        _row("default", "affirm", 0.12, 0.001, True),
        _row("default", "oppose", 0.02, 0.4, False),
        _row("study", "affirm", -0.01, 0.8, False),
        _row("prompt", "affirm", 0.3, math.nan, False),
    ],
}


def test_the_section_counts_wins_per_method_and_shows_every_direction() -> None:
    html = verdict_section(VERDICT)
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


def test_data_is_escaped() -> None:
    bad = {**VERDICT, "budget": "<script>"}
    assert "<script>" not in verdict_section(bad)
