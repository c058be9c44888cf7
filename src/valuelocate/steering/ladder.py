"""The sparsity ladder: a band's neurons ranked by a paired effect size, edited at nested sizes.

METHOD.md section 8 ("The sparsity curve") asks how few neurons still carry a value: rank the
neurons of a middle band of layers by the contrast's effect size, keep the top fraction f of
all the model's MLP neurons (0.1%, 0.3%, 1%, 3%, 10%, then the whole band), and edit only
those. A :class:`Ladder` holds that ranking and its points; each point is a mean-difference
edit on its neurons.

Usage:

1. ``diffs`` is ``[items, band layers, neurons]``: per contrast item, the affirming answer's
   mean activation minus the opposing answer's
   (:func:`valuelocate.locating.ladder.item_differences`).
2. ``ladder = build_ladder(diffs, dimension="conservation", layers=range(8, 23),
   total_neurons=30 * 1536)`` ranks the band by the paired effect size dz (
   :func:`paired_effect`) and fixes the points' sizes.
3. ``ladder.edit(k, gamma)`` is point ``k``'s edit toward the affirming pole,
   ``ladder.edit(k, gamma, sign=-1.0)`` toward the opposing one; apply either with
   :func:`valuelocate.hooks.edit_neurons`.

Point ``k``'s neurons are the ``sizes[k]`` first of ``order``, so every point contains the
previous one. This module is data and arithmetic only: the model's forward passes live in
:mod:`valuelocate.locating.ladder`, the file format in :mod:`valuelocate.artifacts.ladders`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from valuelocate.steering.mean_diff import MeanDiffEdit

# Of ALL the model's MLP neurons (not of the band's); the whole band is always the last point.
DEFAULT_FRACTIONS: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1)
BAND_LABEL = "band"


def paired_effect(diffs: Tensor) -> tuple[Tensor, Tensor]:
    """The mean paired difference and its standardised size dz, per neuron.

    Args:
        diffs: ``[items, layers, neurons]`` (or ``[items, anything...]``): per item, the
            affirming reading minus the opposing one.

    Returns:
        ``(mean, dz)``, each ``[layers * neurons]`` float64: ``mean = mean_i d_i`` and
        ``dz = mean / sd`` with ``sd`` the items' standard deviation (ddof 1); ``dz`` is 0
        where ``sd`` is 0.

    Raises:
        ValueError: fewer than two items (no standard deviation).

    Example:
        >>> mean, dz = paired_effect(torch.tensor([[[1.0]], [[2.0]], [[3.0]]]))
        >>> float(mean[0]), float(dz[0])  # sd is 1
        (2.0, 2.0)
    """
    if diffs.dim() < 2 or diffs.shape[0] < 2:
        raise ValueError(
            f"A paired effect needs at least two items, got diffs of shape {tuple(diffs.shape)}"
        )
    flat = diffs.reshape(diffs.shape[0], -1).double()
    mean = flat.mean(dim=0)
    sd = flat.std(dim=0, correction=1)
    dz = torch.where(sd > 0, mean / torch.where(sd > 0, sd, 1.0), torch.zeros_like(mean))
    return mean, dz


def differences_digest(diffs: Tensor) -> str:
    """The sha256 of per-item differences as float32 (their shape included), hex.

    A run keeps this digest, not the differences (3.6 MB a dimension on SmolLM2): the verdict
    recomputes them in seconds and checks that it ranks what locating ranked.
    """
    values = diffs.detach().float().cpu().contiguous()
    digest = hashlib.sha256(repr(tuple(values.shape)).encode())
    digest.update(values.numpy().tobytes())
    return digest.hexdigest()


def fraction_label(fraction: float) -> str:
    """``0.001`` -> ``"0.1%"``, ``0.1`` -> ``"10%"``."""
    return f"{fraction * 100:g}%"


def ladder_points(
    fractions: Sequence[float], *, total_neurons: int, band_size: int
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The points' sizes and labels: ``round(f * total_neurons)`` clipped to
    ``[1, band_size]``, ascending, a size reached by two fractions kept once (with the smaller
    fraction's label), sizes that reach the band dropped, and the band last.

    Example:
        >>> ladder_points((0.001, 0.01), total_neurons=860, band_size=688)
        ((1, 9, 688), ('0.1%', '1%', 'band'))
    """
    if band_size < 1 or total_neurons < band_size:
        raise ValueError(f"A band of {band_size} neurons in a model of {total_neurons}")
    sizes: list[int] = []
    labels: list[str] = []
    for fraction in sorted(float(f) for f in fractions):
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"A ladder fraction must lie in (0, 1), got {fraction}")
        size = min(max(round(fraction * total_neurons), 1), band_size)
        if size < band_size and size not in sizes:
            sizes.append(size)
            labels.append(fraction_label(fraction))
    return (*sizes, band_size), (*labels, BAND_LABEL)


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no truth value to compare by
class Ladder:
    """One dimension's band neurons, ranked, and the nested sets edited at each point.

    A flat band index is ``position_in_layers * neurons_per_layer + neuron``.

    Attributes:
        dimension: the dimension.
        layers: the band, ascending (model layer indices).
        neurons_per_layer: MLP neurons of one layer.
        total_neurons: MLP neurons of the whole model (the fractions' denominator).
        order: ``[band_size]`` int64 flat band indices by ``|effect|`` descending, ties by the
            smaller index.
        effect: ``[band_size]`` float64 paired effect size dz per flat band index.
        delta: ``[band_size]`` float64 mean paired difference per flat band index: the
            mean-difference rule's vector at gamma 1, toward the affirming pole.
        sizes: neurons edited at each point, strictly ascending, the last the whole band.
        labels: each point's name (``"0.1%"`` ... ``"band"``).
        fractions: ``sizes[k] / total_neurons``.
        items: contrast items the ranking was computed on.
        contrast: the contrast source (``pairs``: the forced-choice search items).
        item_ids: those items' ids, in the differences' order (empty when not known).
        digest: :func:`differences_digest` of the differences ranked (empty when not known:
            a ladder read from a run written before digests).

    Raises:
        ValueError: inconsistent fields (a file that does not describe a ladder).
    """

    dimension: str
    layers: tuple[int, ...]
    neurons_per_layer: int
    total_neurons: int
    order: Tensor  # [band_size] int64
    effect: Tensor  # [band_size] float64
    delta: Tensor  # [band_size] float64
    sizes: tuple[int, ...]
    labels: tuple[str, ...]
    fractions: tuple[float, ...]
    items: int
    contrast: str = "pairs"
    item_ids: tuple[str, ...] = ()
    digest: str = ""

    def __post_init__(self) -> None:
        band = len(self.layers) * self.neurons_per_layer
        if not self.layers or list(self.layers) != sorted(set(self.layers)) or self.layers[0] < 0:
            raise ValueError(f"layers {self.layers} are not distinct ascending layer indices")
        if self.neurons_per_layer < 1 or self.total_neurons < band:
            raise ValueError(
                f"{len(self.layers)} layers x {self.neurons_per_layer} neurons do not fit in "
                f"{self.total_neurons} neurons"
            )
        for name, dtype in (("order", torch.int64), ("effect", torch.float64),
                            ("delta", torch.float64)):  # fmt: skip
            tensor = getattr(self, name)
            if not isinstance(tensor, Tensor) or tensor.shape != (band,) or tensor.dtype != dtype:
                raise ValueError(f"{name} must be a [{band}] {dtype} tensor")
        if not bool(self.effect.isfinite().all() and self.delta.isfinite().all()):
            raise ValueError("effect and delta must be finite")
        if not torch.equal(self.order.sort().values, torch.arange(band)):
            raise ValueError("order is not a permutation of the band's flat indices")
        ranked = self.effect.abs()[self.order]
        if bool((ranked[1:] > ranked[:-1]).any()):
            raise ValueError("order is not by |effect| descending")
        sizes = list(self.sizes)
        if not sizes or sizes[-1] != band or sizes[0] < 1 or sizes != sorted(set(sizes)):
            raise ValueError(f"sizes {self.sizes} must ascend strictly from >= 1 to {band}")
        if not len(self.labels) == len(self.fractions) == len(sizes):
            raise ValueError("sizes, labels and fractions differ in length")
        if self.item_ids and len(self.item_ids) != self.items:
            raise ValueError(f"{len(self.item_ids)} item ids for a ladder of {self.items} items")

    @property
    def band_size(self) -> int:
        """Neurons of the band (``len(layers) * neurons_per_layer``)."""
        return len(self.layers) * self.neurons_per_layer

    def flat(self, k: int) -> Tensor:
        """Point ``k``'s flat band indices, sorted, ``[sizes[k]]`` int64."""
        return self.order[: self.sizes[k]].sort().values

    def neurons(self, k: int) -> dict[int, Tensor]:
        """Model layer -> sorted int64 neuron indices of point ``k`` (layers without one are
        left out)."""
        flat = self.flat(k)
        position, neuron = flat // self.neurons_per_layer, flat % self.neurons_per_layer
        return {self.layers[p]: neuron[position == p] for p in position.unique().tolist()}

    def counts(self, k: int) -> dict[int, int]:
        """Model layer -> neurons of point ``k`` in that layer."""
        return {layer: int(index.numel()) for layer, index in self.neurons(k).items()}

    def vector(self, k: int) -> Tensor:
        """``[band_size]`` float64: ``delta`` on point ``k``'s neurons, 0 elsewhere."""
        out = torch.zeros_like(self.delta)
        flat = self.flat(k)
        out[flat] = self.delta[flat]
        return out

    def edit(self, k: int, gamma: float, *, sign: float = 1.0) -> MeanDiffEdit:
        """Point ``k``'s mean-difference edit, ``a_j <- a_j + gamma * sign * delta_j`` on its
        neurons at the ``act`` site; ``sign=-1.0`` is the oppose edit.

        Example:
            >>> with edit_neurons(model, ladder.edit(2, 4.0), scope="all"):
            ...     model(**batch)
        """
        indices = self.neurons(k)
        deltas = {}
        for layer, index in indices.items():
            start = self.layers.index(layer) * self.neurons_per_layer
            deltas[layer] = float(sign) * self.delta[start + index]
        return MeanDiffEdit(indices, deltas, float(gamma), "act", "located")


def build_ladder(
    diffs: Tensor,
    *,
    dimension: str,
    layers: Sequence[int],
    total_neurons: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    item_ids: Sequence[str] = (),
) -> Ladder:
    """Rank the band's neurons by the paired effect size of ``diffs`` and fix the points.

    Args:
        diffs: ``[items, len(layers), neurons_per_layer]`` per-item paired differences.
        dimension: the dimension.
        layers: the band's model layers, ascending (``diffs``' layer axis, in order).
        total_neurons: MLP neurons of the whole model.
        fractions: of ``total_neurons``, each in (0, 1) (see :func:`ladder_points`).
        item_ids: the items' ids, in ``diffs``' order (kept with the ladder).

    Raises:
        ValueError: a shape that does not match ``layers``, fewer than two items, ids that
            do not match the items, or non-finite differences.

    Example:
        >>> ladder = build_ladder(diffs, dimension="conservation", layers=(1, 2, 3, 4),
        ...                       total_neurons=860)
        >>> ladder.labels
        ('0.1%', '0.3%', '1%', '3%', '10%', 'band')
    """
    layers = tuple(int(i) for i in layers)
    if diffs.dim() != 3 or diffs.shape[1] != len(layers):
        raise ValueError(
            f"diffs must be [items, {len(layers)} layers, neurons], got {tuple(diffs.shape)}"
        )
    if not bool(diffs.isfinite().all()):
        raise ValueError("The paired differences hold NaN or inf")
    delta, effect = paired_effect(diffs)
    key = effect.abs().neg().numpy()
    order = torch.from_numpy(np.argsort(key, kind="stable")).long()  # stable: ties by index
    band = int(effect.numel())
    sizes, labels = ladder_points(fractions, total_neurons=total_neurons, band_size=band)
    return Ladder(
        dimension=dimension,
        layers=layers,
        neurons_per_layer=int(diffs.shape[2]),
        total_neurons=int(total_neurons),
        order=order,
        effect=effect,
        delta=delta,
        sizes=sizes,
        labels=labels,
        fractions=tuple(size / total_neurons for size in sizes),
        items=int(diffs.shape[0]),
        item_ids=tuple(str(i) for i in item_ids),
        digest=differences_digest(diffs),
    )
