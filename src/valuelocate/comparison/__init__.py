"""The comparison: which steering method moves the forced-choice reading most at matched cost,
and does the chosen one beat its matched control on the dev split (``compare``), and the main
job's edit on the held-out test split (the verdict)?

Modules, in the order the work flows:

- :mod:`~valuelocate.comparison.forced_choice`: the forced-choice likelihood reading and the
  shift summary (the primary measure).
- :mod:`~valuelocate.comparison.grid`: :class:`~valuelocate.comparison.grid.Grid`, the cells
  (contrast source, selection, edit rule) each run at the gamma that reaches the budget.
- :mod:`~valuelocate.comparison.rows`: the grid's result rows, the choosing score and their
  files.
- :mod:`~valuelocate.comparison.options`: :class:`CompareOptions` and the standard cells.
- :mod:`~valuelocate.comparison.run`: :func:`compare` (``valuelocate compare``): search,
  choose, check on dev.
- :mod:`~valuelocate.comparison.verdict`: the main job's verdict (:func:`run_verdict`); its
  files are read and written by :mod:`valuelocate.artifacts.verdict`.
"""

from valuelocate.comparison.options import CompareOptions
from valuelocate.comparison.run import CompareResult, compare
from valuelocate.comparison.verdict import Verdict, VerdictOptions, run_verdict

__all__ = [
    "CompareOptions",
    "CompareResult",
    "Verdict",
    "VerdictOptions",
    "compare",
    "run_verdict",
]
