"""Writing and reading a run's files: atomically, with errors that name the file.

Every file is written to a temporary sibling and renamed into place, so a killed run never
leaves a half-written file behind: each file is either the old one or the new one.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import torch


class ArtifactError(ValueError):
    """An artifact is missing, corrupt, or does not fit the model it is used with."""


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        # mkstemp creates 0600 files; give the artifact the usual permissions (umask applies).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()


@contextmanager
def staged_dir(out_dir: Path) -> Iterator[Path]:
    """A new folder beside ``out_dir`` to write into; renamed to ``out_dir`` when the block
    ends, removed if it raises, so a failed or killed write leaves nothing at ``out_dir``.
    ``out_dir`` must be absent or an empty folder (the caller checks, with its own message)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        yield staging
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked by the caller
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """Atomically write ``data`` as indented JSON."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, sort_keys=False)))


def read_json(path: Path) -> Any:
    """Read a JSON artifact; a missing or corrupt file is an :class:`ArtifactError`."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path} does not exist") from exc
    except IsADirectoryError as exc:  # issue 13: a directory where a file is expected
        raise ArtifactError(f"{path} is a directory, not a JSON file") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path} is corrupt (not valid JSON: {exc})") from exc


def package_version() -> str:
    """ValueLocate's own version, as installed (pyproject.toml is its one source);
    ``0+unknown`` when run from a source tree that was never installed."""
    try:
        return importlib.metadata.version("valuelocate")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def library_versions() -> dict[str, str]:
    """Versions of the libraries that decide the numbers (for the manifest)."""
    import numpy
    import safetensors
    import transformers

    return {
        "valuelocate": package_version(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": numpy.__version__,
        # the statistics' CPU update is compiled by numba (read without importing it)
        "numba": importlib.metadata.version("numba"),
    }
