"""A fixed small locate + evaluate + report run on the real stories260k model, compared with
files checked into ``tests/reference/``.

It pins behaviour across refactors: a move that changes a neuron set, a summary number or an
evaluation score fails here. Regenerate the reference only for an intended change of results
(say so in the commit): ``VALUELOCATE_WRITE_REFERENCE=1 pytest tests/test_reference.py``.

Portable across CPUs and thread counts. The model runs in float32, whose sums the CPU's kernels
(AVX2, AVX-512, AMX) and the thread count reorder, so the last bits of every activation depend
on the machine. The tolerances below are sized to that, and no looser:

- float32 keeps about 7 significant digits; a mean of a few hundred activations of size ~1
  reordered moves by ~1e-7, and a difference of near-equal means (a shift, a cosine-similarity
  gap, a bootstrap bound) keeps that absolute error while the value itself may be ~1e-2. So
  JSON floats are compared to ``FLOAT_ABS`` absolute or ``FLOAT_REL`` relative, whichever is
  looser: measured worst case 1.4e-6 absolute (AMD EPYC, 2026-12-03, against the reference
  written on another CPU), 7x inside.
- Effect sizes (Cohen's d of prompt means) divide such a difference by a standard deviation
  that may be small: measured worst case 5.5e-6 absolute on values of size ~1; ``EFFECT_ABS``
  is 18x that.
- Neuron sets are compared exactly (same neurons, same statistics) except neurons whose
  selection score lies within ``SCORE_MARGIN`` of the set's cut (the lowest score it kept):
  only those can change sides when a score moves in its last bits. The delta-p scores of this
  run are ratios of counts, exact on every machine, so there the comparison is exact.

CI runs this module a second time with ``OMP_NUM_THREADS=1`` (``.ci/run``), so a comparison
that holds only for one machine's thread count is caught before it lands.
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
FLOAT_ABS = 1e-5  # see the module docstring for each tolerance's measured basis
FLOAT_REL = 1e-4
EFFECT_ABS = 1e-4
SCORE_MARGIN = 1e-4


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
    """Equal JSON; floats to ``FLOAT_ABS`` or ``FLOAT_REL`` (float32 reordering, see above)."""
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
            assert math.isclose(actual, expected, rel_tol=FLOAT_REL, abs_tol=FLOAT_ABS), (
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
         "--param", "min_required=10", "--param", "threshold=0.6",
         # The reference records the study's pipeline; the ladder (newer) has its own oracles.
         "--no-ladder")  # fmt: skip
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


def _neurons(tensors: dict[str, torch.Tensor], prefix: str) -> dict[tuple[int, int], dict]:
    """One set (``dimension.pole``) as {(layer, index): its statistics}."""
    keys = ("d", "p", "q95", "effect_size")
    pairs = zip(
        tensors[f"{prefix}.layer"].tolist(), tensors[f"{prefix}.index"].tolist(), strict=True
    )
    return {
        neuron: {key: float(tensors[f"{prefix}.{key}"][i]) for key in keys}
        for i, neuron in enumerate(pairs)
    }


def _same_set(actual: dict, expected: dict, where: str) -> None:
    """Exactly the same neurons, except ones scored within ``SCORE_MARGIN`` of the cut."""
    cut = min(stats["d"] for stats in expected.values())
    for neuron in actual.keys() ^ expected.keys():
        score = (actual.get(neuron) or expected[neuron])["d"]
        assert abs(score - cut) <= SCORE_MARGIN, f"{where}: {neuron} (score {score}, cut {cut})"
    for neuron in actual.keys() & expected.keys():
        a, e = actual[neuron], expected[neuron]
        for key in ("d", "p", "q95"):
            assert math.isclose(a[key], e[key], rel_tol=FLOAT_REL, abs_tol=FLOAT_ABS), (
                f"{where} {neuron}.{key}: {a[key]} != {e[key]}"
            )
        assert abs(a["effect_size"] - e["effect_size"]) <= EFFECT_ABS, (
            f"{where} {neuron}.effect_size: {a['effect_size']} != {e['effect_size']}"
        )


def test_neuron_sets_equal_the_reference(run_dir: Path) -> None:
    actual = load_file(run_dir / "neurons.safetensors")
    expected = load_file(REFERENCE / "neurons.safetensors")
    assert sorted(actual) == sorted(expected)
    prefixes = sorted({key.rsplit(".", 1)[0] for key in expected})
    assert prefixes, "the reference holds no neuron set"
    for prefix in prefixes:
        _same_set(_neurons(actual, prefix), _neurons(expected, prefix), prefix)


def test_the_set_comparison_catches_a_changed_neuron() -> None:
    """The tolerances keep the test's power: a neuron away from the cut, or a statistic off by
    more than float32 reordering, fails."""
    expected = load_file(REFERENCE / "neurons.safetensors")
    prefix = "conservation.affirm"
    reference = _neurons(expected, prefix)
    _same_set(reference, reference, prefix)
    top = max(reference, key=lambda n: reference[n]["d"])
    swapped = {(99, 99) if n == top else n: s for n, s in reference.items()}
    with pytest.raises(AssertionError, match="score"):
        _same_set(swapped, reference, prefix)
    nudged = {
        n: {**s, "effect_size": s["effect_size"] + 10 * EFFECT_ABS} for n, s in reference.items()
    }
    with pytest.raises(AssertionError, match="effect_size"):
        _same_set(nudged, reference, prefix)


@pytest.mark.parametrize("name", ["summary.json", "evaluation/results.json"])
def test_json_artifacts_equal_the_reference(run_dir: Path, name: str) -> None:
    actual = _strip(json.loads((run_dir / name).read_text()))
    expected = json.loads((REFERENCE / Path(name).name).read_text())
    _same(actual, expected, name)


def test_report_is_written(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    assert 'id="sparsity"' in html and 'id="dose-response"' in html
