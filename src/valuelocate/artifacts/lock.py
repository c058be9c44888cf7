"""One process per run directory: a lock file that a dead process does not hold forever.

Two ``locate`` processes writing the same checkpoints would corrupt each other's statistics
silently, so the second one is refused. The lock is ``RUN_DIR/.lock``, created with
``O_EXCL`` (atomic on local file systems) and holding the holder's PID, host and start time.
A lock left by a process that died (``kill -9``, power loss) is taken over: on the same host,
when no process with that PID exists; from another host it is never guessed dead, and the
error says which file to remove.

Example:
    >>> with RunLock("runs/smol"):
    ...     locate(options, "runs/smol")
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from valuelocate.artifacts.files import ArtifactError

LOCK_NAME = ".lock"


class RunLockedError(ArtifactError):
    """The run directory is in use by another live process."""


def _alive(pid: int) -> bool:
    """Whether a process with this PID exists here (zombies count as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:  # a zombie (killed, not yet reaped by its parent) holds nothing
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


class RunLock:
    """Hold ``RUN_DIR/.lock`` for the duration of a ``with`` block (the directory is created)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self._held = False

    def acquire(self) -> None:
        """Take the lock, or raise :class:`RunLockedError` naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps(
            {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        ).encode()
        for _ in range(3):  # a stale lock removed, then a race lost: try again
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
            self._held = True
            return
        raise RunLockedError(f"{self.path.parent} is in use; could not take {self.path}")

    def _take_over_if_stale(self) -> None:
        """Remove the lock when its holder is dead on this host; else refuse."""
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8"))
            pid, host = int(holder["pid"]), str(holder["host"])
        except FileNotFoundError:
            return  # released meanwhile
        except (OSError, ValueError, KeyError, TypeError):
            # Written by a process killed between create and write: only a dead one leaves this,
            # but a live one may be writing it right now; give it a moment.
            if time.time() - self.path.stat().st_mtime < 5:
                raise RunLockedError(
                    f"{self.path.parent} is in use by another process (lock {self.path})"
                ) from None
            self.path.unlink(missing_ok=True)
            return
        if host == socket.gethostname() and not _alive(pid):
            self.path.unlink(missing_ok=True)
            return
        where = "" if host == socket.gethostname() else f" on host {host}"
        raise RunLockedError(
            f"{self.path.parent} is in use by process {pid}{where}; wait for it to finish "
            f"(or, if it is gone, remove {self.path})"
        )

    def release(self) -> None:
        """Remove the lock if this object holds it."""
        if self._held:
            self.path.unlink(missing_ok=True)
            self._held = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
