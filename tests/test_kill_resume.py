"""``kill -9`` a real ``valuelocate locate`` process at seeded random moments, then ``--resume``.

Each trial starts the command line a user would type (``python -m valuelocate locate`` on the
260k-parameter Llama), sends SIGKILL at a moment drawn from a seeded generator, and resumes
with ``--resume``. The resumed run must equal an uninterrupted one tensor for tensor and key for
key (``stats/*.safetensors``, ``neurons.safetensors``) and ``summary.json`` must be the same
JSON; no checkpoint and no lock may be left behind.

Half the trials draw the moment from the start-up (import, model load: most land before the
manifest exists, and ``--resume`` must then start the run); the other half wait for the
manifest and draw the moment from the statistics phase, where checkpoints are written after
every batch.

Slow (some twenty Python start-ups): ``pytest -m slow tests/test_kill_resume.py``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tiny_models import STORIES

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent"),
]

TRIALS = 10
SEED = 13
SRC = Path(__file__).resolve().parents[1] / "src"


def _command(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "valuelocate", "locate", "--model", str(STORIES), "--out", str(out),
        "--dimensions", "conservation,self_enhancement", "--prompts-per-pole", "3",
        "--max-new-tokens", "4", "--batch-size", "1", "--checkpoint-seconds", "0",
        "--param", "min_required=5", *extra,
    ]  # fmt: skip


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["HF_HUB_OFFLINE"] = "1"
    return env


def _state(run_dir: Path) -> dict[str, object]:
    files = sorted((run_dir / "stats").glob("*.safetensors")) + [run_dir / "neurons.safetensors"]
    state: dict[str, object] = {f.name: load_file(str(f)) for f in files}
    state["summary.json"] = json.loads((run_dir / "summary.json").read_text())
    return state


def _assert_equal(whole: dict[str, object], resumed: dict[str, object], trial: str) -> None:
    assert whole.keys() == resumed.keys(), trial
    for name, value in whole.items():
        other = resumed[name]
        if isinstance(value, dict) and name.endswith(".safetensors"):
            assert isinstance(other, dict) and value.keys() == other.keys(), f"{trial} {name}"
            for key, tensor in value.items():
                assert torch.equal(tensor, other[key]), f"{trial}: {name}:{key} differs"
        else:
            assert value == other, f"{trial}: {name} differs"


def _kill_at(out: Path, moment: float, after_manifest: bool) -> str:
    """Start a run, SIGKILL it ``moment`` seconds in; say what it had written by then."""
    proc = subprocess.Popen(
        _command(out), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if after_manifest:
        while not (out / "manifest.json").exists() and proc.poll() is None:
            time.sleep(0.01)
    time.sleep(moment)
    finished = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if finished:
        return "finished before the kill"
    stats = len(list((out / "stats").glob("*"))) if (out / "stats").is_dir() else 0
    checkpoints = list((out / "checkpoints").glob("*")) if (out / "checkpoints").is_dir() else []
    if not (out / "manifest.json").exists():
        return "before the manifest"
    return f"{stats} poles done, {len(checkpoints)} checkpoint(s)"


def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    whole_dir = tmp_path / "whole"
    start = time.time()
    done = subprocess.run(_command(whole_dir), env=_env(), capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()
    # The manifest is rewritten at the end; the first checkpoint dates the start of the work.
    first = min(p.stat().st_mtime for p in (whole_dir / "stats").glob("*"))
    startup = max(first - start, 0.5)
    work = max((whole_dir / "summary.json").stat().st_mtime - start - startup, 0.5)
    whole = _state(whole_dir)

    rng = random.Random(SEED)
    landed: list[str] = []
    for trial in range(TRIALS):
        out = tmp_path / f"trial{trial}"
        after_manifest = trial % 2 == 1
        moment = rng.uniform(0.0, work if after_manifest else 0.8 * startup)
        where = _kill_at(out, moment, after_manifest)
        landed.append(where)
        resumed = subprocess.run(
            _command(out, "--resume"), env=_env(), capture_output=True, timeout=600
        )
        label = f"trial {trial} (killed {moment:.2f}s in, {where})"
        assert resumed.returncode == 0, f"{label}: {resumed.stderr.decode()}"
        _assert_equal(whole, _state(out), label)
        assert not (out / ".lock").exists(), label
        leftover = [
            p
            for p in out.rglob("*")
            if p.is_file() and (p.name.startswith(".") or "checkpoints" in p.parts)
        ]
        assert leftover == [], label  # no checkpoint, no temporary file of a killed write
    print("kill -9 trials:", landed)
    # The seeded moments reach both regimes the test is about.
    assert any(w == "before the manifest" for w in landed), landed
    assert any(w.endswith("checkpoint(s)") for w in landed), landed
