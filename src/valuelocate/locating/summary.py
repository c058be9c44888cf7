"""The run's summary: sparsity per dimension and pole, the layer profile, and overlaps."""

from __future__ import annotations

from collections.abc import Mapping

from valuelocate.architectures import ModelShape
from valuelocate.artifacts import PoleSparsity, RunSummary
from valuelocate.selection import POLES, Selection


def summarize(selections: Mapping[str, Selection], shape: ModelShape) -> RunSummary:
    """Sparsity per dimension and pole, the layer profile, and Jaccard overlaps.

    Returns:
        The :class:`~valuelocate.artifacts.RunSummary`: per dimension and pole the count,
        percent of all neurons and count per layer; ``overlap[pole][dim][dim]`` between the
        dimensions' sets of one pole, ``overlap["all"]["dim.pole"]["dim.pole"]`` over all sets.

    Example:
        >>> summarize(result.selections, result.shape).dimensions["conservation"]["affirm"]
    """
    total = shape.total_neurons
    dims: dict[str, dict[str, PoleSparsity]] = {}
    flat: dict[str, set[int]] = {}
    for dimension, selection in selections.items():
        dims[dimension] = {}
        for neuron_set in selection:
            dims[dimension][neuron_set.pole] = PoleSparsity(
                count=len(neuron_set),
                percent=100.0 * len(neuron_set) / total,
                per_layer=neuron_set.counts_per_layer().tolist(),
            )
            flat[f"{dimension}.{neuron_set.pole}"] = set(neuron_set.flat_index.tolist())

    def jaccard(a: set[int], b: set[int]) -> float:
        union = len(a | b)
        return len(a & b) / union if union else 0.0

    overlap: dict[str, dict[str, dict[str, float]]] = {
        "all": {k: {k2: jaccard(v, v2) for k2, v2 in flat.items()} for k, v in flat.items()}
    }
    for pole in POLES:
        overlap[pole] = {
            d: {d2: jaccard(flat[f"{d}.{pole}"], flat[f"{d2}.{pole}"]) for d2 in selections}
            for d in selections
        }
    return RunSummary(
        total_neurons=total,
        num_layers=shape.num_layers,
        neurons_per_layer=shape.neurons_per_layer,
        dimensions=dims,
        overlap=overlap,
    )
