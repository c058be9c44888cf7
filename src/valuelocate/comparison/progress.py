"""How far the verdict has come, as a share of its work (a progress bar's ETA).

The verdict's steps take very different times (one calibration is as long as all of a
dimension's reads), so counting its lines gives a bar that fills early and then stalls. Each
step here weighs its measured share of a dimension instead: the embedded model, main job's
defaults, 2026-12-04 (docs/benchmarks.md): reads about a fifth, the calibration about half,
the exact judging a quarter, the agreement sample the rest; the study's row about as much as
half a dimension. A dimension found unread (no instrument reads it: seconds, not minutes)
weighs :data:`UNREAD` of one once it is known, so the estimate does not count on minutes it
will not spend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

PARTS = {"reads": 0.20, "calibration": 0.50, "judging": 0.25, "agreement": 0.05}
STUDY = 0.5  # the study's row, in dimensions (the measured ones read it)
# A dimension no instrument reads (not measured: its persona reads and the band's calibration)
# costs about a twelfth of a measured one: 20-30 s against 5-6 min on SmolLM2, 1.3 against
# 14-19 min on Gemma-3-270M (2026-12-05).
UNREAD = 0.08


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
    unread_dimensions: set[int] = field(default_factory=set)

    def _weight(self, dimension: int) -> float:
        return UNREAD if dimension in self.unread_dimensions else 1.0

    def _start(self, dimension: int) -> float:
        return sum(self._weight(d) for d in range(dimension))

    @property
    def _study(self) -> float:
        measured = self.dimensions - len(self.unread_dimensions)
        return STUDY * measured / self.dimensions if self.study and self.dimensions else 0.0

    @property
    def total(self) -> float:
        return self._start(self.dimensions) + self._study

    def unread(self, dimension: int) -> None:
        """``dimension`` (0-based) is not measured: it weighs :data:`UNREAD` of a dimension,
        and the study's row one dimension less (the share done jumps ahead)."""
        self.unread_dimensions.add(dimension)

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
        self._send(self._start(dimension) + self._weight(dimension) * done)

    def dimension_done(self, dimension: int) -> None:
        self._send(self._start(dimension + 1))

    def study_at(self, within: float) -> None:
        self._send(self._start(self.dimensions) + self._study * min(max(within, 0.0), 1.0))

    def _send(self, dimensions_done: float) -> None:
        if self.report is not None and self.total > 0:
            self.report(min(dimensions_done / self.total, 1.0))


__all__ = ["PARTS", "STUDY", "UNREAD", "VerdictProgress"]
