"""`valuelocate run`, the main job, end to end on the real 260k-parameter Llama."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tiny_models import STORIES

pytestmark = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")


def test_run_completes_on_a_tiny_model_and_writes_the_report(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "valuelocate", "run", "--model", str(STORIES), "--out", str(out),
        "--prompts-per-pole", "2", "--max-new-tokens", "3", "--gammas", "0,1",
        "--judge-prompts", "1", "--answer-tokens", "4",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = out / "report.html"
    assert result.stdout.strip().splitlines()[-1] == str(report)
    html = report.read_text()
    for section in ("sparsity", "layers", "overlap", "dose-response", "leakage", "examples"):
        assert f'id="{section}"' in html
    results = json.loads((out / "evaluation" / "results.json").read_text())
    assert results["scores"] and results["leakage"], "the evaluation produced scores"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert len(manifest["options"]["dimensions"]) == 4
