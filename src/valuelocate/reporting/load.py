"""Reading a run directory for the report: the run's JSON artifacts as typed values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from valuelocate.artifacts import ArtifactError, read_json
from valuelocate.evaluation.probe import read_probe
from valuelocate.evaluation.results import RESULTS_FORMAT, Example, LeakageRow, ScoreRow

REPORT_NAME = "report.html"
RESULTS_PATH = Path("evaluation") / "results.json"
VERDICT_PATH = Path("verdict") / "verdict.json"


@dataclass(frozen=True)
class Evaluation:
    """The contents of ``evaluation/results.json`` (schema:
    :mod:`valuelocate.evaluation.results`)."""

    rows: tuple[ScoreRow, ...]
    leakage: tuple[LeakageRow, ...] = ()
    examples: tuple[Example, ...] = ()
    judges: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    def measures(self) -> list[str]:
        """The measures present, in first-seen order."""
        return list(dict.fromkeys(row.measure for row in self.rows))

    def select(self, **where: Any) -> list[ScoreRow]:
        """The score rows whose fields equal every ``field=value`` given."""
        return [r for r in self.rows if all(getattr(r, k) == v for k, v in where.items())]


@dataclass(frozen=True)
class RunData:
    """Everything the report shows, read from one run directory."""

    run_dir: Path
    summary: Mapping[str, Any]
    manifest: Mapping[str, Any] | None = None
    neurons: Mapping[str, Any] | None = None
    evaluation: Evaluation | None = None
    notes: tuple[str, ...] = ()
    verdict: Mapping[str, Any] | None = None
    probe: Mapping[str, Any] | None = None  # evaluation/probe.json (the main job's probe)

    @property
    def dimensions(self) -> list[str]:
        """Dimension ids in the order the locating run wrote them."""
        return list(self.summary.get("dimensions", {}))


_T = TypeVar("_T")


def _from_json(cls: type[_T], raw: Any, *, figures: tuple[str, ...] = ()) -> _T:
    """Build dataclass ``cls`` from a JSON object, ignoring keys it does not know.

    ``figures`` are float fields that the writer turns from NaN into null; they become NaN.
    """
    if not isinstance(raw, Mapping):
        raise TypeError(f"expected an object, got {type(raw).__name__}")
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in raw.items() if k in names}
    for name in figures:
        if name in values and values[name] is None:
            values[name] = math.nan
    return cls(**values)


def parse_evaluation(data: Any, *, source: Path) -> Evaluation:
    """Read ``results.json`` as written by :func:`valuelocate.evaluation.evaluate`.

    Raises:
        ArtifactError: not an evaluation result, or an entry lacks a required field.
    """
    if not isinstance(data, Mapping) or data.get("format") != RESULTS_FORMAT:
        raise ArtifactError(f"{source} is not a ValueLocate evaluation result")
    if data.get("version", 1) != 1:  # issue 13: another version is refused
        raise ArtifactError(f"{source} has version {data.get('version')!r}; this code reads 1")
    try:
        rows = tuple(
            _from_json(ScoreRow, r, figures=("mean", "ci_low", "ci_high"))
            for r in data.get("scores", [])
        )
        leakage = tuple(
            _from_json(LeakageRow, r, figures=("shift", "ci_low", "ci_high"))
            for r in data.get("leakage", [])
        )
        examples = tuple(_from_json(Example, e) for e in data.get("examples", []))
    except TypeError as exc:
        raise ArtifactError(f"{source} has a malformed entry: {exc}") from exc
    judges = data.get("judges") or {}
    options = data.get("options") or {}
    return Evaluation(rows, leakage, examples, judges, options)


def load_run(run_dir: Path) -> RunData:
    """Read a run directory's artifacts; only ``summary.json`` is required.

    Raises:
        ArtifactError: the directory or its ``summary.json`` is missing or corrupt.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = "a file" if run_dir.exists() else "nothing there"
        raise ArtifactError(f"{run_dir} is not a run directory (it is {what})")
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise ArtifactError(
            f"{summary_path} does not exist: run `valuelocate locate` into {run_dir} first"
        )
    summary = read_json(summary_path)
    if not isinstance(summary, Mapping) or "dimensions" not in summary:
        raise ArtifactError(f"{summary_path} is not a locating summary (no 'dimensions')")
    # --- issue 13: shapes the page code relies on, checked here so they are one clear line
    if not isinstance(summary["dimensions"], Mapping):
        raise ArtifactError(f"{summary_path}: 'dimensions' is not an object")
    for key in ("total_neurons", "num_layers", "neurons_per_layer"):
        value = summary.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ArtifactError(f"{summary_path}: {key!r} is {value!r}, not a whole number")
    # --- end of the issue 13 change
    notes: list[str] = []
    manifest = _read_optional(run_dir, "manifest.json", notes)
    if manifest is not None and not isinstance(manifest, Mapping):  # issue 13
        raise ArtifactError(f"{run_dir / 'manifest.json'} is not a JSON object")
    neurons = _read_optional(run_dir, "neurons.json", notes)
    raw_results = _read_optional(run_dir, RESULTS_PATH, notes)
    evaluation = None
    if raw_results is not None:
        evaluation = parse_evaluation(raw_results, source=run_dir / RESULTS_PATH)
    # The verdict is written by `valuelocate run` only; its absence is not worth a note.
    verdict = read_json(run_dir / VERDICT_PATH) if (run_dir / VERDICT_PATH).is_file() else None
    if verdict is not None and not isinstance(verdict, Mapping):
        raise ArtifactError(f"{run_dir / VERDICT_PATH} is not a JSON object")
    probe = read_probe(run_dir)
    return RunData(run_dir, summary, manifest, neurons, evaluation, tuple(notes), verdict, probe)


def _read_optional(run_dir: Path, name: Path | str, notes: list[str]) -> Any:
    """The JSON at ``run_dir / name``, or None when it is absent (noted for the footer)."""
    path = run_dir / name
    if path.is_dir():  # issue 13: a directory where a file is expected
        raise ArtifactError(f"{path} is a directory, not a JSON file")
    if not path.is_file():
        notes.append(str(name))
        return None
    return read_json(path)


# --------------------------------------------------------------------------------------------
# Small helpers
