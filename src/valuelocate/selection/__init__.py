"""Selection: from two poles' statistics to each pole's neurons.

- :mod:`~valuelocate.selection.sets`: the values, :class:`NeuronSet` and :class:`Selection`.
- :mod:`~valuelocate.selection.significance`: Cohen's d, Welch's t-test, Benjamini-Hochberg.
- :mod:`~valuelocate.selection.methods`: the methods (``delta-p``, ``cohens-d``, ``lape``,
  ``mean-diff``), their registry :func:`get_method` and :func:`select_neurons`.

Neuron sets are kept on disk in a run's ``neurons.safetensors``
(:func:`~valuelocate.artifacts.save_neuron_sets`, :func:`~valuelocate.artifacts.load_neuron_sets`).

Example:
    >>> from valuelocate.selection import select_neurons
    >>> affirm, oppose = select_neurons(affirm_stats, oppose_stats, method="delta-p")
"""

from valuelocate.selection.methods import (
    SELECTION_METHODS,
    CohensD,
    DeltaP,
    Lape,
    MeanDiff,
    SelectionMethod,
    get_method,
    resolve_count,
    select_neurons,
)
from valuelocate.selection.sets import POLES, SET_FIELDS, NeuronSet, Pole, Selection
from valuelocate.selection.significance import (
    benjamini_hochberg,
    cohens_d,
    regularized_incomplete_beta,
    t_test_pvalue,
    welch_t_test,
)

__all__ = [
    "POLES",
    "SELECTION_METHODS",
    "SET_FIELDS",
    "CohensD",
    "DeltaP",
    "Lape",
    "MeanDiff",
    "NeuronSet",
    "Pole",
    "Selection",
    "SelectionMethod",
    "benjamini_hochberg",
    "cohens_d",
    "get_method",
    "regularized_incomplete_beta",
    "resolve_count",
    "select_neurons",
    "t_test_pvalue",
    "welch_t_test",
]
