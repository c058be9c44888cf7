"""A fixed small locate + evaluate + report run on the real stories260k model, compared with
files checked into ``tests/reference/``.

It pins behaviour across refactors: a move that changes a neuron set, a summary number or an
evaluation score fails here. Regenerate the reference only for an intended change of results
(say so in the commit): ``VALUELOCATE_WRITE_REFERENCE=1 pytest tests/test_reference.py``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from tiny_models import STORIES

pytestmark = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")

REFERENCE = Path(__file__).parent / "reference"
WRITE = os.environ.get("VALUELOCATE_WRITE_REFERENCE") == "1"
# Keys that record when, where and with which library versions a run happened: not results.
VOLATILE = {"created", "finished", "started", "versions", "run_dir", "elapsed_s", "path",
            "seconds", "wall_s", "timings"}  # fmt: skip


def _cli(*args: str) -> None:
    cmd = [sys.executable, "-m", "valuelocate", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, str):  # the model's path depends on where the checkout lives
        return value.replace(str(STORIES), "<stories260k>")
    return value


def _same(actual: Any, expected: Any, where: str) -> None:
    """Equal JSON, floats to 1e-9 relative (JSON round-trips floats exactly; the slack only
    absorbs a reordered float sum)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert sorted(actual) == sorted(expected), f"{where}: keys differ"
        for key in expected:
            _same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _same(a, e, f"{where}[{i}]")
    elif isinstance(expected, float) and isinstance(actual, float):
        if math.isnan(expected):
            assert math.isnan(actual), where
        else:
            assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12), (
                f"{where}: {actual} != {expected}"
            )
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    _cli("locate", "--model", str(STORIES), "--out", str(out),
         "--dimensions", "conservation,self_enhancement", "--prompts-per-pole", "3",
         "--max-new-tokens", "4", "--batch-size", "2", "--seed", "0",
         "--param", "min_required=10", "--param", "threshold=0.6")  # fmt: skip
    _cli("evaluate", str(out), "--gammas", "0,1", "--judge", "embedding",
         "--judge-prompts", "2", "--max-new-tokens", "4", "--seed", "0",
         "--bootstrap", "50", "--permutations", "50")  # fmt: skip
    _cli("report", str(out))
    if WRITE:
        REFERENCE.mkdir(exist_ok=True)
        shutil.copy(out / "neurons.safetensors", REFERENCE / "neurons.safetensors")
        for name in ("summary.json", "evaluation/results.json"):
            data = _strip(json.loads((out / name).read_text()))
            target = REFERENCE / Path(name).name
            target.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return out


def test_neuron_sets_equal_the_reference(run_dir: Path) -> None:
    actual = load_file(run_dir / "neurons.safetensors")
    expected = load_file(REFERENCE / "neurons.safetensors")
    assert sorted(actual) == sorted(expected)
    for key, tensor in expected.items():
        assert torch.equal(actual[key], tensor), key


@pytest.mark.parametrize("name", ["summary.json", "evaluation/results.json"])
def test_json_artifacts_equal_the_reference(run_dir: Path, name: str) -> None:
    actual = _strip(json.loads((run_dir / name).read_text()))
    expected = json.loads((REFERENCE / Path(name).name).read_text())
    _same(actual, expected, name)


def test_report_is_written(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    assert 'id="sparsity"' in html and 'id="dose-response"' in html
