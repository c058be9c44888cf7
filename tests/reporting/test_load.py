"""`valuelocate.reporting.load`: reading a run directory's artifacts, and refusing what is
not one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from report_fixture import make_run
from valuelocate.artifacts import ArtifactError
from valuelocate.reporting.html import write_report
from valuelocate.reporting.load import load_run, parse_evaluation


def test_missing_run_dir_or_summary_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ArtifactError, match="nope is not a run directory .it is nothing there"):
        write_report(missing)
    (tmp_path / "a file").write_text("x")
    with pytest.raises(ArtifactError, match="a file is not a run directory .it is a file"):
        write_report(tmp_path / "a file")
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
