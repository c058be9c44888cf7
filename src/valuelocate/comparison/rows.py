"""The comparison grid's result rows: one per (cell, dimension, pole), the choosing rule's
score of a cell, and the rows' files (``grid.json``/``grid.csv``, ``verdict.json``/``.csv``)."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from valuelocate.comparison.forced_choice import direction


@dataclass(frozen=True)
class GridRow:
    """One (cell, dimension, pole) result on the forced-choice likelihood reading (nats)."""

    config: str
    contrast: str
    selection: str
    rule: str
    dimension: str
    pole: str
    gamma: float
    cost: float
    budget_reached: bool
    n: int
    shift: float
    ci_low: float
    ci_high: float
    wrong_way: float
    control_shift: float
    p_control: float
    selectivity: float
    neurons: int
    seconds: float

    @property
    def toward(self) -> float:
        """The shift signed toward the targeted pole (positive = the right way)."""
        return direction(self.pole) * self.shift

    def beats_control(self, alpha: float = 0.01) -> bool:
        """Right direction, beyond the control, at ``p < alpha``."""
        toward_control = direction(self.pole) * self.control_shift
        return self.toward > 0 and self.toward > toward_control and self.p_control < alpha


def score(
    rows: Sequence[GridRow], *, alpha: float = 0.01, budget: float = 1.10
) -> tuple[int, float]:
    """A cell's rank key: (directions beating the control at ``p < alpha`` within budget,
    mean shift toward the targeted pole)."""
    wins = sum(1 for r in rows if r.beats_control(alpha) and not r.cost > budget)
    mean = float(np.mean([r.toward for r in rows])) if rows else math.nan
    return wins, mean


def write_rows(rows: Sequence[GridRow], out_dir: str | Path, *, name: str = "grid") -> None:
    """``{name}.json`` (rows as objects) and ``{name}.csv`` in ``out_dir``."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    data = [asdict(r) for r in rows]
    (folder / f"{name}.json").write_text(
        json.dumps(data, indent=1, allow_nan=True), encoding="utf-8"
    )
    with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(GridRow.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(data)


__all__ = ["GridRow", "score", "write_rows"]
