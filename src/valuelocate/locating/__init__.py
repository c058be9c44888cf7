"""Locating value neurons: run each pole's prompts, stream statistics, select neurons.

The stages, one module each: :mod:`~valuelocate.locating.options` (what decides the numbers),
:mod:`~valuelocate.locating.jobs` (the prompts of each pole), :mod:`~valuelocate.locating.run`
(one pole's statistics, checkpointed and resumable), :mod:`~valuelocate.locating.summary`
(sparsity, layer profile, overlaps) and :mod:`~valuelocate.locating.pipeline` (:func:`locate`,
which runs them all and writes the run directory).

Example:
    >>> from valuelocate.locating import LocateOptions, locate
    >>> result = locate(LocateOptions(prompts_per_pole=8, max_new_tokens=16), "runs/x")
"""

from valuelocate.locating.jobs import PoleJob, build_jobs, load_dataset
from valuelocate.locating.options import BACKENDS, LocateOptions
from valuelocate.locating.pipeline import LocateResult, locate
from valuelocate.locating.run import PoleProgress, run_or_resume, run_pole
from valuelocate.locating.summary import summarize

__all__ = [
    "BACKENDS",
    "LocateOptions",
    "LocateResult",
    "PoleJob",
    "PoleProgress",
    "build_jobs",
    "load_dataset",
    "locate",
    "run_or_resume",
    "run_pole",
    "summarize",
]
