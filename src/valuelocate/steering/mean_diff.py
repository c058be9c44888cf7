"""The ``mean-diff`` edit rule: add the difference of the two poles' mean activations.

Usage:

1. ``diff = mean_difference(stats_target, stats_other)`` is ``mu_target - mu_other``,
   ``[layers, neurons]``, from two poles' :class:`~valuelocate.stats.NeuronStats` (by default
   the mean over texts of each text's mean, so that long texts do not weigh more).
2. ``edit = selected_edit(diff, selection.affirm.by_layer(), gamma=2.0)`` edits located
   neurons; ``edit = band_edit(diff, range(8, 23), gamma=2.0)`` edits every neuron of a band
   of layers. Either is a :class:`MeanDiffEdit`: ``a_j <- a_j + gamma * diff_j``.
3. ``control = permuted_control(edit, exclude=located_flat_indices, seed=0)`` is its matched
   random control: in each layer as many neurons, drawn outside the located sets, carrying
   the same per-neuron magnitudes in a random order; for a band edit (every neuron of a layer
   is edited, so none lies outside) the layer's vector permuted within the layer. Either way
   the control has the same per-layer counts and the same norm.
4. Apply with ``edit_neurons(model, edit, scope="all")`` (or
   :func:`valuelocate.steering.intervention.applied`).

Why a mean difference: the study's dynamic rule pushes each neuron by its typical active
value, whichever way the poles differ in magnitude; the mean difference is the neuron-space
analogue of a residual-stream steering vector, the direction in which the two poles' texts
differ on average, which is what a steering edit should add.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import torch
from torch import Tensor

from valuelocate.architectures import Site
from valuelocate.stats import NeuronStats

Level = Literal["prompt", "token"]


def mean_difference(target: NeuronStats, other: NeuronStats, *, level: Level = "prompt") -> Tensor:
    """``mu_target - mu_other`` per neuron, ``[layers, neurons]`` float64.

    Args:
        target, other: the two poles' statistics (same geometry).
        level: ``prompt`` (mean of each text's mean; every text weighs the same) or
            ``token`` (mean over all counted tokens).
    """
    if (target.num_layers, target.neurons) != (other.num_layers, other.neurons):
        raise ValueError("The two poles' statistics come from models of different shapes")
    if level == "prompt":
        diff = target.prompt_mean - other.prompt_mean
    elif level == "token":
        diff = target.mean - other.mean
    else:
        raise ValueError(f"Unknown level {level!r}; expected prompt or token")
    return torch.nan_to_num(diff.double(), nan=0.0)


@dataclass(frozen=True)
class MeanDiffEdit:
    """``a_j <- a_j + gamma * delta_j`` on chosen neurons of chosen layers (a hooks ``Edit``).

    Attributes:
        indices: layer -> ``[k]`` int64 neuron indices.
        deltas: layer -> ``[k]`` float64 per-neuron difference (the edit at gamma 1).
        gamma: the strength.
        site: the site the statistics were read at (``act`` or ``down_in``).
        kind: ``selected`` (located neurons) or ``band`` (every neuron of the layers).

    Example:
        >>> with edit_neurons(model, band_edit(diff, range(8, 23), gamma=2.0), scope="all"):
        ...     model(**batch)
    """

    indices: Mapping[int, Tensor]
    deltas: Mapping[int, Tensor]
    gamma: float
    site: Site = "act"
    kind: str = "selected"
    # (layer, dtype, device) -> what additive() returns, folded once (a served edit is cached
    # per request shape, so a server folds each vector once)
    _folded: dict[tuple[int, torch.dtype, torch.device], tuple[Tensor, Tensor] | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def layers(self) -> Iterable[int]:
        return self.indices.keys()

    def edit(self, layer: int, values: Tensor) -> tuple[Tensor, Tensor]:
        idx = self.indices[layer].to(values.device)
        delta = (self.gamma * self.deltas[layer]).to(device=values.device, dtype=values.dtype)
        return idx, values.index_select(-1, idx) + delta

    def additive(
        self, layer: int, dtype: torch.dtype, device: torch.device
    ) -> tuple[Tensor, Tensor] | None:
        """``(indices [k], delta [k])`` on ``device``: :meth:`edit` is ``values[..., indices] +
        delta`` with this very ``delta`` (``gamma * deltas`` cast to ``dtype``), so a batch can
        apply it as one indexed add (:mod:`valuelocate.steering.rows`). Folded once per layer,
        dtype and device. ``None`` when the layer's indices repeat: an indexed add would add
        twice where :meth:`edit` writes once."""
        key = (layer, dtype, torch.device(device))
        if key not in self._folded:
            idx = self.indices[layer]
            folded = None
            if int(torch.unique(idx).numel()) == int(idx.numel()):
                delta = (self.gamma * self.deltas[layer]).to(device=device, dtype=dtype)
                folded = (idx.to(device), delta)
            self._folded[key] = folded
        return self._folded[key]

    def reset(self) -> None:
        """Nothing to restart: the edit is deterministic."""

    def with_gamma(self, gamma: float) -> MeanDiffEdit:
        """The same edit at another strength."""
        return replace(self, gamma=float(gamma))

    def norm(self) -> float:
        """Euclidean norm of the added vector at gamma 1, over all layers."""
        return float(torch.cat([d for d in self.deltas.values()]).norm()) if self.deltas else 0.0

    def counts(self) -> dict[int, int]:
        """Neurons edited per layer."""
        return {layer: int(idx.numel()) for layer, idx in self.indices.items()}


def selected_edit(
    diff: Tensor,
    neurons: Mapping[int, Tensor | Iterable[int]],
    *,
    gamma: float,
    site: Site = "act",
) -> MeanDiffEdit:
    """The mean-difference edit on located neurons.

    Args:
        diff: ``[layers, neurons]`` from :func:`mean_difference` (target minus other).
        neurons: layer -> neuron indices (e.g. ``NeuronSet.by_layer()``; pass the union of
            both poles' sets to also push the other pole's neurons down).
        gamma: strength.
        site: where the statistics were read.
    """
    indices: dict[int, Tensor] = {}
    deltas: dict[int, Tensor] = {}
    for layer, idx in sorted(neurons.items()):
        index = torch.as_tensor(list(idx) if not isinstance(idx, Tensor) else idx).long()
        index = torch.unique(index)
        if index.numel():
            indices[int(layer)] = index
            deltas[int(layer)] = diff[int(layer)].double()[index].clone()
    return MeanDiffEdit(indices, deltas, float(gamma), site, "selected")


def band_edit(
    diff: Tensor, layers: Iterable[int], *, gamma: float, site: Site = "act"
) -> MeanDiffEdit:
    """The mean-difference edit on every neuron of ``layers`` (no selection)."""
    chosen = sorted(set(int(i) for i in layers))
    bad = [i for i in chosen if not 0 <= i < diff.shape[0]]
    if bad:
        raise ValueError(f"Layer {bad[0]} out of range: the statistics have {diff.shape[0]}")
    neurons = diff.shape[1]
    indices = {layer: torch.arange(neurons) for layer in chosen}
    deltas = {layer: diff[layer].double().clone() for layer in chosen}
    return MeanDiffEdit(indices, deltas, float(gamma), site, "band")


def permuted_control(
    edit: MeanDiffEdit,
    *,
    neurons_per_layer: int,
    exclude: Tensor | Iterable[int] = (),
    seed: int = 0,
) -> MeanDiffEdit:
    """The matched random control of a mean-difference edit, at the same gamma.

    For a ``selected`` edit: in each layer, as many neurons drawn (seeded) outside ``exclude``
    (flat indices ``layer * neurons_per_layer + j`` of every located set) and outside the
    edit's own neurons, carrying the edit's per-neuron deltas of that layer in a random order.
    For a ``band`` edit: each layer's delta vector permuted within the layer.

    Raises:
        ValueError: a layer has too few free neurons.
    """
    generator = torch.Generator().manual_seed(seed)
    taken = torch.zeros(
        max(edit.indices.keys(), default=-1) + 1, neurons_per_layer, dtype=torch.bool
    )
    flat = torch.as_tensor(list(exclude) if not isinstance(exclude, Tensor) else exclude).long()
    flat = flat[flat < taken.numel()]
    taken.view(-1)[flat] = True
    indices: dict[int, Tensor] = {}
    deltas: dict[int, Tensor] = {}
    for layer, idx in edit.indices.items():
        delta = edit.deltas[layer]
        order = torch.randperm(delta.numel(), generator=generator)
        if edit.kind == "band":
            indices[layer] = idx.clone()
            deltas[layer] = delta[order].clone()
            continue
        taken[layer, idx] = True
        free = (~taken[layer]).nonzero().flatten()
        if free.numel() < idx.numel():
            raise ValueError(
                f"Layer {layer} has {free.numel()} neurons outside the located sets, too few for "
                f"a control of {idx.numel()}"
            )
        picked = free[torch.randperm(free.numel(), generator=generator)[: idx.numel()]]
        indices[layer] = picked.sort().values
        deltas[layer] = delta[order].clone()
    return MeanDiffEdit(indices, deltas, edit.gamma, edit.site, edit.kind + "-control")
