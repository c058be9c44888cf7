"""The comparison: which steering method moves the forced-choice reading most at matched cost,
and does the chosen one beat its matched control on the dev split (``compare``); and do the
located sets beat strong nulls on the held-out test split (the main job's verdict)?

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
- :mod:`~valuelocate.comparison.linear`: the linearised response (the reading's mean gradient
  with respect to added neuron values), so that a null costs a dot product.
- :mod:`~valuelocate.comparison.nulls`: label shuffles, random same-count sets, p-values.
- :mod:`~valuelocate.comparison.cost`: the batched neutral cost of many added vectors (and of a
  logit bias), and every vector's exact slope at gamma 0.
- :mod:`~valuelocate.comparison.search`: the calibration of many vectors to the budget at once.
- :mod:`~valuelocate.comparison.curve`: the sparsity curve: every ladder point at the budget
  against its nulls, and the dev rule that picks the default point.
- :mod:`~valuelocate.comparison.judging`: one test per dimension and instrument, Holm.
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
