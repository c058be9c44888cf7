"""How far the verdict has come, as a share of its work (a progress bar's ETA).

The verdict's steps take very different times (one calibration is as long as all of a
dimension's reads), so counting its lines gives a bar that fills early and then stalls. Each
step here weighs its measured share of a dimension instead: the embedded model, main job's
defaults, 2026-12-04 (docs/benchmarks.md): reads about a fifth, the calibration about half,
the exact judging a quarter, the agreement sample the rest; the study's row about as much as
half a dimension.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

PARTS = {"reads": 0.20, "calibration": 0.50, "judging": 0.25, "agreement": 0.05}
STUDY = 0.5  # the study's row, in dimensions


@dataclass
class VerdictProgress:
    """Reports the verdict's done share (0 to 1) to ``report`` as its steps finish.

    Attributes:
        dimensions: how many dimensions the verdict judges.
        study: whether it reads the study's row after them.
        report: told the share done after each step (nothing when None).
    """

    dimensions: int
    study: bool = False
    report: Callable[[float], None] | None = None

    @property
    def total(self) -> float:
        return self.dimensions + (STUDY if self.study else 0.0)

    def at(self, dimension: int, part: str, within: float = 1.0) -> None:
        """``dimension`` (0-based) is ``within`` (0 to 1) through ``part`` of :data:`PARTS`,
        every part listed before it done."""
        done = 0.0
        for name, share in PARTS.items():
            if name == part:
                done += share * min(max(within, 0.0), 1.0)
                break
            done += share
        else:
            raise ValueError(f"unknown part {part!r}; expected one of {', '.join(PARTS)}")
        self._send(dimension + done)

    def dimension_done(self, dimension: int) -> None:
        self._send(dimension + 1.0)

    def study_at(self, within: float) -> None:
        self._send(self.dimensions + STUDY * min(max(within, 0.0), 1.0))

    def _send(self, dimensions_done: float) -> None:
        if self.report is not None and self.total > 0:
            self.report(min(dimensions_done / self.total, 1.0))


__all__ = ["PARTS", "STUDY", "VerdictProgress"]
