"""The study's dynamic rule: :func:`steering_edit` and its control :func:`random_control_edit`.

Usage:

1. Load neuron sets: ``sets = load_neuron_sets(run_dir, expect=model_shape(model))``.
2. Build an edit: ``steering_edit(sets["conservation"], "affirm", gamma=1.0)`` is the study's
   dynamic rule; ``random_control_edit`` is its control on random neurons (the simple rules
   are in :mod:`valuelocate.steering.simple`; every rule by name in
   :mod:`valuelocate.steering.rules`).
3. Apply it: ``with edit_neurons(model, edit, scope="generated"): model.generate(...)``.

The dynamic rule (METHOD.md section 4), for layer l, at every forward call:

- for a random ``fraction`` (default 90%) of the target pole's neurons in l, redrawn at each
  call from a seeded generator: ``a_j <- a_j + v_j * gamma * sigmoid(10 * (d_j - 0.15))``,
  with ``v_j`` the neuron's q95 (default) or activation probability p under its pole;
- for the other pole's neurons in l: ``a_j <- min(a_j, 0)`` (``clamp``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from valuelocate.selection import NeuronSet, Selection
from valuelocate.vocab import Site

ValueSource = Literal["q95", "p"]
V_SOURCES: tuple[ValueSource, ...] = ("q95", "p")


def dynamic_weight(d: Tensor) -> Tensor:
    """``sigmoid(10 * (d - 0.15))``: near 1 for neurons that separate the poles well."""
    return torch.sigmoid(10.0 * (d - 0.15))


@dataclass
class _LayerPlan:
    push_index: Tensor  # [k] int64: target-pole neurons of this layer
    push_weight: Tensor  # [k] float64: v_j * sigmoid(10 (d_j - 0.15))
    clamp_index: Tensor  # [m] int64: other-pole neurons clamped to min(a, 0)
    _in_place: bool | None = field(default=None, repr=False, compare=False)

    def in_place(self) -> bool:
        """Whether the push and the clamp can be applied one after the other, in place, with
        :meth:`DynamicEdit.edit`'s result: pushed neurons unique and none of them clamped
        (:func:`steering_edit` builds such plans). Checked once per plan."""
        if self._in_place is None:
            push = self.push_index
            self._in_place = int(torch.unique(push).numel()) == int(push.numel()) and not bool(
                torch.isin(self.clamp_index, push).any()
            )
        return self._in_place


@dataclass
class DynamicEdit:
    """The study's dynamic-gamma edit (see the module docstring).

    Attributes:
        plans: layer -> which neurons to push (with their weights) and which to clamp.
        gamma: the strength.
        fraction: share of each layer's pushed neurons edited at each call (redrawn).
        seed: seed of the draw; the same seed and the same call sequence give the same draws.
        site: where the neurons were located (``act`` or ``down_in``); ``edit_neurons``
            applies the edit there unless told otherwise.
    """

    plans: Mapping[int, _LayerPlan]
    gamma: float
    fraction: float = 0.9
    seed: int = 0
    site: Site = "act"
    _generator: torch.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {self.fraction}")
        self._generator = torch.Generator().manual_seed(self.seed)

    def reset(self) -> None:
        """Restart the random draws from the seed."""
        self._generator.manual_seed(self.seed)

    def layers(self) -> Iterable[int]:
        return self.plans.keys()

    def draw(self, k: int) -> Tensor:
        """The positions (within a layer's pushed neurons) edited at this call, ``[k]`` bool.

        Exactly ``round(fraction * k)`` of them, chosen by a seeded permutation.
        """
        keep = torch.zeros(k, dtype=torch.bool)
        if k:
            keep[self.draw_indices(k)] = True
        return keep

    def draw_indices(self, k: int) -> Tensor:
        """What :meth:`draw` marks, as ``[round(fraction * k)]`` indices (the same draw: a
        batch sets the marks of many rows in one operation)."""
        if not k:
            return torch.empty(0, dtype=torch.long)
        return torch.randperm(k, generator=self._generator)[: round(self.fraction * k)]

    def edit(self, layer: int, values: Tensor) -> tuple[Tensor, Tensor]:
        plan = self.plans[layer]
        device = values.device
        keep = self.draw(int(plan.push_index.numel())).to(device)
        push_idx = plan.push_index.to(device)
        clamp_idx = plan.clamp_index.to(device)
        pushed = values.index_select(-1, push_idx)  # [batch, seq, k]
        delta = (self.gamma * plan.push_weight.to(device) * keep).to(values.dtype)
        pushed = pushed + delta
        clamped = values.index_select(-1, clamp_idx).clamp(max=0)  # [batch, seq, m]
        return torch.cat([push_idx, clamp_idx]), torch.cat([pushed, clamped], dim=-1)


def _values(neuron_set: NeuronSet, v: ValueSource) -> Tensor:
    if v not in V_SOURCES:
        raise ValueError(f"Unknown v {v!r}; expected one of: {', '.join(V_SOURCES)}")
    return (neuron_set.q95 if v == "q95" else neuron_set.p).double()


def _plans(target: NeuronSet, other: NeuronSet | None, v: ValueSource) -> dict[int, _LayerPlan]:
    weights = _values(target, v) * dynamic_weight(target.d.double())  # [k]
    layers = set(target.layer.tolist()) | (set(other.layer.tolist()) if other else set())
    plans = {}
    for layer in sorted(layers):
        in_layer = target.layer == layer
        push = target.index[in_layer]
        clamp = other.index[other.layer == layer] if other is not None else push[:0]
        # A neuron in both sets (possible only with a huge min_required) is pushed, not clamped.
        clamp = clamp[~torch.isin(clamp, push)]
        plans[int(layer)] = _LayerPlan(push, weights[in_layer], clamp)
    return plans


def _pole_sets(selection: Selection, pole: str) -> tuple[NeuronSet, NeuronSet]:
    target = selection.pole(pole)  # type: ignore[arg-type]
    other = selection.oppose if target is selection.affirm else selection.affirm
    return target, other


def steering_edit(
    selection: Selection,
    pole: str,
    gamma: float,
    *,
    v: ValueSource = "q95",
    fraction: float = 0.9,
    seed: int = 0,
    clamp: bool = True,
    site: Site = "act",
) -> DynamicEdit:
    """Push the model toward ``pole`` of a dimension with the study's dynamic rule.

    Args:
        selection: the dimension's two neuron sets.
        pole: ``affirm`` or ``oppose``: the direction of the push.
        gamma: strength (the study swept 0.1 to 2.0).
        v: each neuron's typical active value: ``q95`` (default) or ``p``.
        fraction: share of pushed neurons edited at each forward call (redrawn, seeded).
        seed: seed of the draws.
        clamp: clamp the other pole's neurons to ``min(a, 0)``.
        site: the site the neurons were located at (the run's ``--site``).

    Example:
        >>> edit = steering_edit(sets["conservation"], "affirm", 1.0)
        >>> with edit_neurons(model, edit): model.generate(**batch)
    """
    target, other = _pole_sets(selection, pole)
    return DynamicEdit(
        _plans(target, other if clamp else None, v),
        gamma=gamma,
        fraction=fraction,
        seed=seed,
        site=site,
    )


def _random_like(
    located: NeuronSet, forbidden: Tensor, generator: torch.Generator
) -> tuple[NeuronSet, Tensor]:
    """A set with ``located``'s per-layer counts and per-neuron (d, p, q95), at neurons drawn
    outside ``forbidden`` (flat indices). Returns the set and ``forbidden`` grown by it."""
    num_layers, neurons = located.shape
    taken = torch.zeros(num_layers * neurons, dtype=torch.bool)
    taken[forbidden] = True
    new_index = torch.empty_like(located.index)
    for layer in located.layer.unique().tolist():
        rows = (located.layer == layer).nonzero().flatten()
        free = (~taken[layer * neurons : (layer + 1) * neurons]).nonzero().flatten()
        if free.numel() < rows.numel():
            raise ValueError(
                f"Layer {layer} has too few neurons outside the located sets for a random "
                f"control of {rows.numel()} neurons"
            )
        picked = free[torch.randperm(free.numel(), generator=generator)[: rows.numel()]]
        new_index[rows] = picked
        taken[layer * neurons + picked] = True
    control = NeuronSet(
        located.pole,
        f"random-control({located.method})",
        dict(located.params),
        located.shape,
        located.layer.clone(),
        new_index,
        located.d.clone(),
        located.p.clone(),
        located.q95.clone(),
        located.effect_size.clone(),
    )
    return control, taken.nonzero().flatten()


def random_control_sets(
    selection: Selection, *, exclude: Iterable[Selection] = (), seed: int = 0
) -> Selection:
    """Random stand-ins for both poles' sets: the same number of neurons per layer, the same
    (d, p, q95) values, at neurons outside every located set (``selection`` and ``exclude``)."""
    flat = [s.flat_index for sel in (selection, *exclude) for s in sel]
    forbidden = torch.cat(flat) if flat else torch.empty(0, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    affirm, forbidden = _random_like(selection.affirm, forbidden, generator)
    oppose, _ = _random_like(selection.oppose, forbidden, generator)
    return Selection(affirm, oppose)


def random_control_edit(
    selection: Selection,
    pole: str,
    gamma: float,
    *,
    exclude: Iterable[Selection] = (),
    seed: int = 0,
    v: ValueSource = "q95",
    fraction: float = 0.9,
    clamp: bool = True,
    site: Site = "act",
) -> DynamicEdit:
    """The random control of :func:`steering_edit`: the same edit on random neurons.

    As many neurons per layer as the located sets, drawn (seeded) from outside all located
    sets, each carrying a located neuron's (d, v), pushed and clamped the same way.
    """
    control = random_control_sets(selection, exclude=exclude, seed=seed)
    return steering_edit(
        control, pole, gamma, v=v, fraction=fraction, seed=seed, clamp=clamp, site=site
    )
