"""Evaluating steering: does an edit move the values a model expresses, beyond its control,
and at what cost?

Modules, in the order the work flows:

- :mod:`~valuelocate.evaluation.options`: :class:`EvaluateOptions`, every option once.
- :mod:`~valuelocate.evaluation.conditions`: the conditions' edits, prefixes and prompts.
- :mod:`~valuelocate.evaluation.questionnaire`: the portrait questionnaire by likelihood.
- :mod:`~valuelocate.evaluation.cost`: neutral-text perplexity and degenerate answers.
- :mod:`~valuelocate.evaluation.statistics`: bootstrap intervals and paired tests.
- :mod:`~valuelocate.evaluation.harness`: :func:`evaluate`, the orchestration.
- :mod:`~valuelocate.evaluation.rows`: rows, leakage and the result files.
- :mod:`~valuelocate.evaluation.results`: the schema of ``results.json`` (no torch).

The comparison of steering methods at matched cost (``valuelocate compare``) and the main job's
verdict live in :mod:`valuelocate.comparison`.
"""

from valuelocate.evaluation.conditions import steering_edits
from valuelocate.evaluation.harness import evaluate
from valuelocate.evaluation.options import EvaluateOptions, parse_gammas
from valuelocate.evaluation.results import CONDITIONS, Example, LeakageRow, ScoreRow
from valuelocate.evaluation.rows import EvaluationResult

__all__ = [
    "CONDITIONS",
    "EvaluateOptions",
    "EvaluationResult",
    "Example",
    "LeakageRow",
    "ScoreRow",
    "evaluate",
    "parse_gammas",
    "steering_edits",
]
