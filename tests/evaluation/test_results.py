"""`valuelocate.evaluation.results`: the documented schema and its row types."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

import valuelocate.evaluation.results as results
from valuelocate.evaluation.results import RESULTS_FORMAT, Example, LeakageRow, ScoreRow
from valuelocate.reporting import parse_evaluation


def test_every_row_field_is_documented_in_the_schema() -> None:
    doc = results.__doc__ or ""
    for cls in (ScoreRow, LeakageRow, Example):
        for f in fields(cls):
            assert f"``{f.name}``" in doc or f.name in (cls.__doc__ or ""), (cls, f.name)
    for key in ("format", "model", "options", "scores", "leakage", "judges", "examples",
                "option_mass", "warnings", "seconds", "prompt_baselines"):  # fmt: skip
        assert f"``{key}``" in doc, key


def test_rows_round_trip_through_the_reports_reader() -> None:
    score = ScoreRow("questionnaire", "conservation", "affirm", 1.0, "conservation",
                     0.4, 0.1, 0.7, 8, 0, 0.02, 0.3)  # fmt: skip
    leak = LeakageRow("conservation", "affirm", 1.0, "self_enhancement", -0.2, -0.5, 0.1, 8)
    example = Example("conservation", "none", None, "p1", "Should I?", "Yes.", False)
    data = {
        "format": RESULTS_FORMAT,
        "scores": [asdict(score)],
        "leakage": [asdict(leak)],
        "examples": [asdict(example)],
    }
    parsed = parse_evaluation(data, source=Path("results.json"))
    assert parsed.rows == (score,) and parsed.leakage == (leak,)
    assert parsed.examples == (example,)
