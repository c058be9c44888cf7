"""The generator's output file: read what it holds for a resume (:func:`read_existing`),
and append records one durable line at a time (:func:`append_line`).

A killed run loses at most the line it was writing; that line is left unterminated, and the
next run drops it (or completes it, when it is a valid record) before going on.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valuelocate.data.generation_config import GenerationError
from valuelocate.data.schema import Kind, Record, detect_kind, parse_record


@dataclass
class ExistingFile:
    """What an output file already holds.

    Attributes:
        records: its valid records, in file order.
        dropped_partial: a trailing unterminated line that was not a valid record and was cut.
    """

    records: list[Record]
    dropped_partial: bool = False


def read_existing(path: Path, kind: Kind) -> ExistingFile:
    """Read ``path`` for a resume. A last line without a newline is what an interrupted write
    leaves: if it is not a valid record it is dropped and the file rewritten atomically
    without it; if it is valid, the newline is added.

    Args:
        path: the output file (may not exist).
        kind: the kind being generated; records of another kind are an error.

    Returns:
        The file's records.

    Raises:
        GenerationError: a complete line is not a valid ``kind`` record (the file was not
            written by the generator, or was edited), or an id repeats.
    """
    if not path.exists():
        return ExistingFile([])
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    records: list[Record] = []
    ids: set[str] = set()
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record, why = _decode_line(line, kind)
        if record is None or record.id in ids:
            problems.append(f"{path}:{number}: {why or 'duplicate id'}")
        else:
            records.append(record)
            ids.add(record.id)
    if problems:
        shown = "; ".join(problems[:5])
        raise GenerationError(
            f"{path} holds lines that are not valid {kind} records ({shown}); fix them (see "
            "`valuelocate data validate`) or choose another --out."
        )
    if not tail.strip():
        return ExistingFile(records)
    record, _ = _decode_line(tail, kind)
    if record is not None and record.id not in ids:
        records.append(record)
        _rewrite(path, raw + b"\n")
        return ExistingFile(records)
    _rewrite(path, raw[: len(raw) - len(tail)])
    return ExistingFile(records, dropped_partial=True)


def _decode_line(line: bytes, kind: Kind) -> tuple[Record | None, str]:
    try:
        obj = json.loads(line)
    except ValueError as exc:
        return None, f"invalid JSON ({exc})"
    if isinstance(obj, dict) and detect_kind(obj) not in (kind, None):
        return None, f"a {detect_kind(obj)} record, not {kind}"
    record, errors = parse_record(kind, obj)
    return record, "; ".join(f"{f}: {m}" for f, m in errors)


def _rewrite(path: Path, content: bytes) -> None:
    """Replace ``path``'s content atomically: write a sibling, fsync, rename over."""
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; the rename is durable enough there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def append_line(handle: Any, obj: dict[str, Any]) -> None:
    """Write one JSON line in a single write, then flush and fsync, so that a kill loses at
    most this line (and leaves it unterminated, which :func:`read_existing` detects)."""
    handle.write(json.dumps(obj, ensure_ascii=False) + "\n")
    handle.flush()
    os.fsync(handle.fileno())
