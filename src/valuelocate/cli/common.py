"""Pieces every command shares: the model and device flags, a progress bar for the library's
callback, and the checks of every path a command takes."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from valuelocate.artifacts import ArtifactError
from valuelocate.artifacts.lock import LOCK_NAME
from valuelocate.models import DEFAULT_MODEL
from valuelocate.vocab import Progress as ProgressFn

MODEL_HELP = (
    "Model: 'default' (embedded SmolLM2-135M-Instruct, offline), 'gemma-3-270m', "
    "'qwen2.5-coder-1.5b', a local folder, or a hub id."
)
MODEL_OPTION = typer.Option(DEFAULT_MODEL, "--model", "-m", help=MODEL_HELP)
DEVICE_OPTION = typer.Option(None, help="Device for the model (cpu, cuda, cuda:1); auto if unset.")


TABLE_WIDTH = 200  # columns of a table written to a file or a pipe


def table_console() -> Console:
    """A console for tables. Written to a file or a pipe, rich assumes 80 columns and cuts every
    cell of a wide table to a few characters; there it uses :data:`TABLE_WIDTH` unless the
    user set ``COLUMNS``. A terminal keeps its own width."""
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        return Console(width=TABLE_WIDTH)
    return console


@contextmanager
def progress_bar(description: str, *, show: bool = True) -> Iterator[ProgressFn]:
    """A progress bar on stderr, handed to the library as ``progress(text, done, total)``."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show,
    )
    with bar:
        task = bar.add_task(description, total=None)

        def report(text: str, done: int, total: int) -> None:
            bar.update(task, description=text, completed=done, total=total)

        yield report


# --------------------------------------------------------------------------- paths
# Every path a command reads or writes is checked here first, before a model is loaded or a
# byte written: a path of the wrong kind (a file where a directory is expected and the
# reverse, nothing there, a symbolic link loop, an existing output, no permission) is one
# line naming the path and what was expected (exit 2), never a traceback.

RUN = "a run directory of `valuelocate locate`"
NEURONS = f"{RUN} or a folder written by `valuelocate export`"
# Files of a run given where its directory is expected: the user means the run.
RUN_FILES = ("neurons.safetensors", "neurons.json", "manifest.json", "summary.json")


class PathError(ArtifactError):
    """A path of the wrong kind; the message names it and what was expected."""


def _exists(path: Path, label: str, expected: str) -> bool:
    """Whether something is at ``path``; a path that cannot be looked at is a PathError."""
    try:
        path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise PathError(
                f"{label} {path} is a symbolic link to nothing ({os.readlink(path)}); "
                f"expected {expected}"
            ) from None
        return False
    except NotADirectoryError:
        parent = next((p for p in path.parents if p.exists() and not p.is_dir()), path.parent)
        raise PathError(
            f"{label} {path}: {parent} is a file, not a directory; expected {expected}"
        ) from None
    except PermissionError:
        raise PathError(f"{label} {path} cannot be reached (permission denied)") from None
    except OSError as exc:
        why = "a symbolic link loop" if exc.errno == errno.ELOOP else exc.strerror
        raise PathError(f"{label} {path} cannot be resolved ({why}); expected {expected}") from None
    return True


def _hub_id(path: Path) -> bool:
    """Shaped like a Hugging Face Hub repo id (``owner/name``) rather than a local path."""
    text = str(path)
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~"))


def _writable(path: Path, label: str, folder: Path) -> None:
    """``folder`` (where ``path`` will be written) can be written in."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PathError(
            f"{label} {path}: cannot write in {folder} (permission denied; nothing was written)"
        )


def _nearest(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (where a new folder would be made)."""
    return next(p for p in (path, *path.absolute().parents) if p.exists())


def _missing(path: Path, label: str, expected: str) -> PathError:
    """``path`` does not exist; the message also names its first missing ancestor."""
    gone = [p for p in path.parents if str(p) not in ("", ".") and not p.exists()]
    also = f" ({gone[-1]} does not exist either)" if gone else ""
    return PathError(f"{label} {path} does not exist{also}; expected {expected}")


def input_run(
    path: Path,
    label: str,
    *,
    expected: str = RUN,
    hub: bool = False,
    files: bool = False,
    writes: bool = False,
) -> Path:
    """A run directory to read, named ``label`` in messages (``--neurons``, ``RUN_DIR``).

    A file of the run (``RUN/neurons.safetensors``, ``RUN/manifest.json``...) means the run.
    With ``hub``, an ``owner/name`` that is no local path is left to the Hub; with ``files``,
    another file is left to the reader (a bare ``neurons.safetensors``); with ``writes``, the
    command writes into the run (``evaluate``, ``report``), so it must be writable.
    """
    if not _exists(path, label, expected):
        if hub and _hub_id(path):
            return path
        raise _missing(path, label, expected)
    if not path.is_dir():
        if path.name in RUN_FILES and (path.parent / "manifest.json").is_file():
            path = path.parent
        elif files:
            return input_file(path, label, expected=expected)
        else:
            raise PathError(f"{label} {path} is a file; expected {expected}")
    if not os.access(path, os.R_OK | os.X_OK):
        raise PathError(f"{label} {path} cannot be read (permission denied)")
    if writes:
        _writable(path, label, path)
    return path


def input_file(path: Path, label: str, *, expected: str = "a JSONL file") -> Path:
    """A file to read, named ``label`` in messages."""
    if not _exists(path, label, expected):
        raise _missing(path, label, expected)
    if path.is_dir():
        raise PathError(f"{label} {path} is a directory; expected {expected}")
    if not os.access(path, os.R_OK):
        raise PathError(f"{label} {path} cannot be read (permission denied)")
    return path


def output_dir(path: Path, label: str, *, resumable: bool = False, resume: bool = False) -> Path:
    """A directory to write: new or empty, or with ``resume`` one to continue (a
    ``resumable`` command's message points to ``--resume``, and its run lock does not count
    as content). A missing parent is created."""
    expected = "a run directory to resume, or a new one" if resume else "a new or empty directory"
    if _exists(path, label, expected):
        if not path.is_dir():
            raise PathError(f"{label} {path} is a file; expected {expected} (nothing was written)")
        ignore = (LOCK_NAME,) if resumable else ()
        if not resume and any(p.name not in ignore for p in path.iterdir()):
            hint = "pass --resume to continue that run, or choose" if resumable else "choose"
            raise PathError(
                f"{label} {path} already exists and is not empty; {hint} a new directory "
                "(nothing was written)"
            )
    _writable(path, label, _nearest(path))
    return path


def output_file(path: Path, label: str, *, expected: str = "a JSONL file") -> Path:
    """A file to create or append to; a missing parent is created."""
    if _exists(path, label, expected):
        if path.is_dir():
            raise PathError(f"{label} {path} is a directory; expected {expected}")
        if not os.access(path, os.W_OK):
            raise PathError(f"{label} {path} cannot be written (permission denied)")
    _writable(path, label, _nearest(path.parent))
    return path
