"""The simple rules: scale, add, ablate or set chosen neurons, each with its matched control.

``scale_edit``, ``add_edit`` and ``ablate_edit`` rewrite one neuron set's neurons with the same
element-wise function; ``set_value_edit`` sets chosen neurons (by index) to a constant. The
control of a set's edit is the same rewrite on random neurons (:func:`random_set`: as many per
layer, drawn seeded from outside every located set), at the same strength.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor

from valuelocate.hooks import NeuronEdit
from valuelocate.selection import NeuronSet, Selection
from valuelocate.steering.dynamic import random_control_sets
from valuelocate.vocab import Site


def _indices(neuron_set: NeuronSet) -> dict[int, Tensor]:
    return neuron_set.by_layer()


def scale_edit(neuron_set: NeuronSet, gamma: float, *, site: Site = "act") -> NeuronEdit:
    """``a <- gamma * a`` on the set's neurons."""
    return NeuronEdit(_indices(neuron_set), lambda a: a * gamma, site=site)


def add_edit(neuron_set: NeuronSet, value: float, *, site: Site = "act") -> NeuronEdit:
    """``a <- a + value`` on the set's neurons."""
    return NeuronEdit(_indices(neuron_set), lambda a: a + value, site=site, constant=value)


def ablate_edit(neuron_set: NeuronSet, *, site: Site = "act") -> NeuronEdit:
    """``a <- 0`` on the set's neurons."""
    return NeuronEdit(_indices(neuron_set), torch.zeros_like, site=site)


def set_value_edit(
    indices: Mapping[int, Sequence[int] | Tensor], value: float, *, site: Site = "act"
) -> NeuronEdit:
    """Set the chosen neurons to a constant (``value=0`` ablates them)."""
    return NeuronEdit(indices, lambda a: torch.full_like(a, value), site=site)


def random_set(
    selection: Selection, pole: str, *, exclude: Iterable[Selection] = (), seed: int = 0
) -> NeuronSet:
    """The matched control of ``pole``'s set: as many neurons per layer, drawn (seeded) from
    outside every located set (``selection`` and ``exclude``). Give it the same rewrite."""
    return random_control_sets(selection, exclude=exclude, seed=seed).pole(pole)  # type: ignore[arg-type]


def random_value_edit(
    indices: Mapping[int, Sequence[int] | Tensor],
    value: float,
    *,
    neurons_per_layer: int,
    seed: int = 0,
    site: Site = "act",
) -> NeuronEdit:
    """The matched control of :func:`set_value_edit`: as many neurons per layer, drawn (seeded)
    from outside the chosen ones, set to the same constant."""
    generator = torch.Generator().manual_seed(seed)
    out: dict[int, Tensor] = {}
    for layer, idx in sorted(indices.items()):
        chosen = torch.as_tensor(idx, dtype=torch.long)
        free = torch.ones(neurons_per_layer, dtype=torch.bool)
        free[chosen] = False
        pool = free.nonzero().flatten()
        if pool.numel() < chosen.numel():
            raise ValueError(f"Layer {layer} has too few other neurons for a control")
        out[layer] = pool[torch.randperm(pool.numel(), generator=generator)[: chosen.numel()]]
    return set_value_edit(out, value, site=site)
