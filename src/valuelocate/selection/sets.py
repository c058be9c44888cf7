"""Neuron sets: the neurons selected for each pole of one dimension, as plain typed values.

A :class:`NeuronSet` holds one pole's neurons, best first, with the numbers that chose them; a
:class:`Selection` pairs the two poles' sets. They are data only: the selection methods
(:mod:`valuelocate.selection.methods`) make them, and a run's ``neurons.safetensors`` keeps
them on disk (:func:`valuelocate.artifacts.save_neuron_sets`, ``load_neuron_sets``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from valuelocate.vocab import POLES, Pole

# The per-neuron tensors of a set, in the order files and summaries list them.
SET_FIELDS = ("layer", "index", "d", "p", "q95", "effect_size")


@dataclass(frozen=True)
class NeuronSet:
    """The neurons selected for one pole, best first.

    Attributes:
        pole: ``affirm`` or ``oppose``.
        method: name of the selection method.
        params: the method's parameters, with resolved values (JSON-serialisable).
        shape: ``(num_layers, neurons)`` of the model.
        layer, index: ``[k]`` int64, the neurons.
        d: ``[k]`` float64, the method's score, signed so that larger favours this pole.
        p: ``[k]`` float64, activation probability under this pole.
        q95: ``[k]`` float64, 95th percentile of the activation under this pole.
        effect_size: ``[k]`` float64, prompt-level Cohen's d toward this pole (NaN where fewer
            than two prompts make it undefined).

    Example:
        >>> sets = DeltaP()(affirm_stats, oppose_stats)
        >>> sets.affirm.by_layer()[20]  # neuron indices of layer 20
    """

    pole: Pole
    method: str
    params: Mapping[str, Any]
    shape: tuple[int, int]
    layer: Tensor  # [k] int64
    index: Tensor  # [k] int64
    d: Tensor  # [k] float64
    p: Tensor  # [k] float64
    q95: Tensor  # [k] float64
    effect_size: Tensor  # [k] float64

    def __len__(self) -> int:
        return int(self.layer.shape[0])

    @property
    def flat_index(self) -> Tensor:
        """``layer * neurons + index``, ``[k]`` int64."""
        return self.layer * self.shape[1] + self.index

    def by_layer(self) -> dict[int, Tensor]:
        """Layer -> sorted neuron indices ``[k_l]`` (only layers with a selected neuron)."""
        out: dict[int, Tensor] = {}
        for layer in self.layer.unique().tolist():
            out[int(layer)] = self.index[self.layer == layer].sort().values
        return out

    def counts_per_layer(self) -> Tensor:
        """Selected neurons per layer, ``[num_layers]`` int64."""
        return torch.bincount(self.layer, minlength=self.shape[0])


@dataclass(frozen=True)
class Selection:
    """The two poles' neuron sets of one dimension; unpacks as ``affirm, oppose = selection``.

    Example:
        >>> affirm, oppose = select_neurons(affirm_stats, oppose_stats)
        >>> selection.pole("oppose") is oppose
    """

    affirm: NeuronSet
    oppose: NeuronSet

    def __iter__(self) -> Iterator[NeuronSet]:
        return iter((self.affirm, self.oppose))

    def pole(self, name: Pole) -> NeuronSet:
        """The set of pole ``name``."""
        if name not in POLES:
            raise ValueError(f"Unknown pole {name!r}; expected one of: {', '.join(POLES)}")
        return self.affirm if name == "affirm" else self.oppose
