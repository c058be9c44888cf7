"""The run lock (:mod:`valuelocate.artifacts.lock`) and ``--resume`` of a run that never started.

The holders are real processes: a live one is a ``sleep`` this test starts, a dead one a
process that has exited (its PID is free), and the refused second process is the real
``valuelocate locate`` command line.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from valuelocate.artifacts.lock import LOCK_NAME, RunLock, RunLockedError
from valuelocate.locating import LocateOptions, locate

from tiny_models import STORIES

SRC = Path(__file__).resolve().parents[2] / "src"


def _write_lock(run_dir: Path, pid: int, host: str | None = None) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "started": 0}))
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # exited and reaped: no process has this PID now
    return proc.pid


def test_lock_holds_pid_and_host_and_is_released(tmp_path: Path) -> None:
    with RunLock(tmp_path / "run") as lock:
        holder = json.loads(lock.path.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(RunLockedError, match=f"in use by process {os.getpid()}"):
            RunLock(tmp_path / "run").acquire()
    assert not (tmp_path / "run" / LOCK_NAME).exists()


def test_lock_is_released_when_the_block_raises(tmp_path: Path) -> None:
    with pytest.raises(KeyError), RunLock(tmp_path):
        raise KeyError("boom")
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    _write_lock(tmp_path, _dead_pid())
    with RunLock(tmp_path) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def test_lock_of_a_live_process_is_refused(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        path = _write_lock(tmp_path, sleeper.pid)
        with pytest.raises(RunLockedError, match=f"process {sleeper.pid}") as info:
            RunLock(tmp_path).acquire()
        assert str(path) in str(info.value)
        assert json.loads(path.read_text())["pid"] == sleeper.pid  # untouched
    finally:
        sleeper.kill()
        sleeper.wait()


def test_lock_from_another_host_is_never_guessed_dead(tmp_path: Path) -> None:
    _write_lock(tmp_path, _dead_pid(), host="elsewhere.invalid")
    with pytest.raises(RunLockedError, match="on host elsewhere.invalid"):
        RunLock(tmp_path).acquire()


@pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")
def test_second_locate_process_is_refused_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "run"
    sleeper = subprocess.Popen(["sleep", "120"])
    try:
        _write_lock(out, sleeper.pid)
        before = sorted(p.name for p in out.iterdir())
        cmd = [
            sys.executable, "-m", "valuelocate", "locate", "--model", str(STORIES),
            "--out", str(out), "--dimensions", "conservation", "--prompts-per-pole", "2",
            "--max-new-tokens", "2", "--resume",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1"}
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"in use by process {sleeper.pid}" in lines[0], lines
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == before


@pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")
def test_resume_of_a_run_that_never_started_starts_it(tmp_path: Path) -> None:
    options = LocateOptions(
        model=str(STORIES),
        dimensions=("conservation",),
        prompts_per_pole=2,
        max_new_tokens=2,
        method_params={"min_required": 5},
    )
    never = tmp_path / "never"  # does not exist at all
    result = locate(options, never, resume=True)
    assert (never / "neurons.safetensors").is_file() and not (never / LOCK_NAME).exists()
    empty = tmp_path / "empty"
    _write_lock(empty, _dead_pid())  # killed before its manifest: only a stale lock is left
    locate(options, empty, resume=True)
    assert (empty / "summary.json").read_text() == (never / "summary.json").read_text()
    assert result.summary.total_neurons > 0
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="no manifest.json"):
        locate(options, stranger, resume=True)
    assert sorted(p.name for p in stranger.iterdir()) == ["notes.txt"]
