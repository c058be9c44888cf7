"""`valuelocate.reporting.verdict_v1`: which files are version 1, and their terminal counts
(the old table itself: tests/reporting/test_verdict.py)."""

from __future__ import annotations

from valuelocate.reporting.verdict_v1 import is_v1, v1_lines, v1_section


def test_a_version_1_file_has_no_version_and_a_rows_list() -> None:
    assert is_v1({"rows": []})
    assert not is_v1({"version": 2, "rows": []})
    assert not is_v1({"version": 2, "dimensions": []})


def test_the_terminal_counts_per_method() -> None:
    verdict = {
        "budget": "ppl=1.1",
        "configs": {"default": "pairs+band+mean-diff", "prompt": "prompt-baseline"},
        "rows": [
            {"method": "default", "beats_control": True},
            {"method": "default", "beats_control": False},
            {"method": "prompt", "beats_control": False},
        ],
    }
    lines = v1_lines(verdict, 80, None)
    assert lines == [
        "Verdict (version 1 file): budget ppl=1.1",
        "default (pairs+band+mean-diff): 1/2 directions beat their control at p < 0.01",
    ]
    assert 'id="verdict"' in v1_section(verdict)
