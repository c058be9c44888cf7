"""A hand-made forced-choice item for tests (the fields the readers and contrast sources use),
shared by the forced-choice, contrast and compare tests, and a hand-made grid row."""

from __future__ import annotations

import math
from dataclasses import dataclass

from valuelocate.comparison.rows import GridRow


@dataclass(frozen=True)
class Item:
    id: str
    dimension: str
    situation: str
    affirm: str
    oppose: str
    split: str = "search"


def make_row(
    pole: str, shift: float, control: float, p: float, cost: float = 1.05, config: str = "x"
) -> GridRow:
    """A hand-made grid row (for the grid and run tests)."""
    ci = (shift - 0.1, shift + 0.1)
    return GridRow(config, "descriptions", "band", "mean-diff", "conservation", pole, 2.0, cost,
                   True, 10, shift, *ci, 0.1, control, p, math.nan, 5, 0.0)  # fmt: skip
