"""An interrupted verdict resumes per dimension: ``RUN_DIR/verdict/partial/``.

A verdict takes minutes per dimension; :func:`~valuelocate.comparison.verdict.run_verdict`
keeps each finished dimension here (its record, per-item rows and edit tensors) and the
study's rows, tagged with the model and every verdict option, and reads them back on the next
run under the same key; the folder goes once ``verdict.json`` is written.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.torch import load_file, save_file

from valuelocate.artifacts.files import atomic_write
from valuelocate.models import LoadedModel

CALIBRATION = "every vector until within 5% of the budget's log, at most steps + 9 passes"


def partial_key(lm: LoadedModel, options: Any, budget: Any) -> dict[str, Any]:
    """What must match for a kept dimension to be reused: the model and every option."""
    return {
        "model": lm.model_id,
        "config_hash": lm.config_hash,
        "budget": str(budget),
        "options": json.loads(json.dumps(asdict(options))),
        # a kept dimension searched by an older calibration is not mixed with newer ones
        "calibration": CALIBRATION,
    }


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as JSON takes them (NaN kept: the record is cleaned later)."""
    return value.item() if isinstance(value, np.generic) else np.asarray(value).tolist()


class Partial:
    """``RUN_DIR/verdict/partial/``: each finished dimension's record, per-item rows and edit
    tensors (``{dimension}.json`` + ``.safetensors``), and the study's rows; read back only
    when written under the same model and options; removed once the verdict is written."""

    def __init__(self, folder: Path, key: dict[str, Any]) -> None:
        self.folder = folder
        self.key = key

    def _read(self, name: str) -> dict[str, Any] | None:
        path = self.folder / f"{name}.json"
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) and data.get("key") == self.key else None

    def _write(self, name: str, data: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"key": self.key, **data}, default=_plain)
        atomic_write(self.folder / f"{name}.json", lambda tmp: tmp.write_text(text, "utf-8"))

    def load(
        self, dimension: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]] | None:
        data = self._read(dimension)
        tensors = self.folder / f"{dimension}.safetensors"
        if data is None or not tensors.is_file():
            return None
        return data["record"], data["items"], load_file(str(tensors))

    def save(
        self,
        dimension: str,
        record: dict[str, Any],
        items: list[dict[str, Any]],
        tensors: dict[str, Any],
    ) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(
            self.folder / f"{dimension}.safetensors", lambda tmp: save_file(tensors, str(tmp))
        )
        self._write(dimension, {"record": record, "items": items})  # last: it marks done

    def load_study(self, dimensions: Sequence[str]) -> list[dict[str, Any]] | None:
        data = self._read("study")
        if data is None or data.get("dimensions") != list(dimensions):
            return None
        rows: list[dict[str, Any]] = data["rows"]
        return rows

    def save_study(self, dimensions: Sequence[str], rows: list[dict[str, Any]]) -> None:
        self._write("study", {"dimensions": list(dimensions), "rows": rows})

    def remove(self) -> None:
        if self.folder.is_dir():
            shutil.rmtree(self.folder)


__all__ = ["Partial", "partial_key"]
