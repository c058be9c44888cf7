"""Selection methods: from two poles' statistics to the neurons of each pole.

Usage:

1. Collect :class:`~valuelocate.stats.NeuronStats` for the affirming and the opposing pole of
   one dimension (same model, same geometry).
2. Pick a method by name, ``get_method("delta-p")(threshold=0.1)``, or build one directly,
   ``DeltaP(min_required=2000)``.
3. ``selection = method(affirm, oppose)`` returns a :class:`~valuelocate.selection.Selection`:
   one :class:`~valuelocate.selection.NeuronSet` per pole, each neuron with its layer, index,
   score ``d`` (signed toward the pole), its own pole's ``p`` and ``q95``, and the
   prompt-level Cohen's d toward the pole.

Methods (:data:`SELECTION_METHODS`):

- ``delta-p`` (:class:`DeltaP`), the study's rule: ``d = p+ - p-``.
- ``cohens-d`` (:class:`CohensD`): prompt-level Cohen's d, Welch's t-test and
  Benjamini-Hochberg FDR over all neurons; the only method with a notion of significance.
- ``lape`` (:class:`Lape`): entropy of the two poles' normalised activation probabilities.
- ``mean-diff`` (:class:`MeanDiff`): difference of token-level mean activations.

Conventions shared by all methods: neurons are numbered by their flat index
``layer * neurons + index``; rankings use a stable sort, so ties go to the lower flat index;
each set is ordered by its score, best first; a neuron whose score is undefined (NaN, for
example a layer with no counted token in one pole) is never selected.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor

from valuelocate.selection.sets import NeuronSet, Pole, Selection
from valuelocate.selection.significance import benjamini_hochberg, cohens_d, welch_t_test
from valuelocate.stats import NeuronStats

# ---------------------------------------------------------------------- helpers


def resolve_count(value: int | float, total: int, *, name: str) -> int:
    """A neuron count given as an int or as a fraction of ``total``.

    An ``int`` >= 0 is a count (capped at ``total``); a ``float`` in ``(0, 1]`` is a fraction,
    rounded half up (``0.01`` of 46,080 neurons is 461).

    Example:
        >>> resolve_count(0.01, 46080, name="top_k"), resolve_count(2000, 46080, name="top_k")
        (461, 2000)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be an int count or a float fraction, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
        return min(value, total)
    if not 0.0 < value <= 1.0:
        raise ValueError(
            f"{name}={value} is a float, so a fraction of all neurons: it must lie in (0, 1] "
            "(pass an int for a count)"
        )
    return min(int(math.floor(value * total + 0.5)), total)


def _check_pair(affirm: NeuronStats, oppose: NeuronStats) -> tuple[int, int]:
    shape = (affirm.num_layers, affirm.neurons)
    if (oppose.num_layers, oppose.neurons) != shape:
        raise ValueError(
            f"The poles' statistics differ in shape: {shape} vs "
            f"{(oppose.num_layers, oppose.neurons)}"
        )
    return shape


def _toward_each_pole(score: Tensor) -> tuple[tuple[Pole, Tensor], tuple[Pole, Tensor]]:
    """``score`` signed toward each pole: itself for ``affirm``, negated for ``oppose``."""
    return ("affirm", score), ("oppose", -score)


def _rank(score: Tensor, eligible: Tensor) -> Tensor:
    """Flat indices of eligible neurons by score, highest first, ties by lower index."""
    candidates = eligible.nonzero().squeeze(1)  # ascending flat indices
    order = torch.sort(score[candidates], descending=True, stable=True).indices
    return candidates[order]


@dataclass(frozen=True)
class _PoleData:
    """Everything a set needs from the two poles, flattened to ``[layers * neurons]``."""

    shape: tuple[int, int]
    p: dict[str, Tensor]
    q95: dict[str, Tensor]
    effect: Tensor  # Cohen's d toward affirm

    @classmethod
    def of(cls, affirm: NeuronStats, oppose: NeuronStats) -> _PoleData:
        shape = _check_pair(affirm, oppose)
        return cls(
            shape,
            {"affirm": affirm.p.flatten(), "oppose": oppose.p.flatten()},
            {"affirm": affirm.q95.flatten(), "oppose": oppose.q95.flatten()},
            cohens_d(affirm, oppose).flatten(),
        )

    def make_set(
        self, pole: Pole, method: str, params: Mapping[str, Any], flat: Tensor, score: Tensor
    ) -> NeuronSet:
        """A set of the neurons ``flat`` [k], whose scores toward ``pole`` are ``score``
        [layers * neurons]."""
        sign = 1.0 if pole == "affirm" else -1.0
        return NeuronSet(
            pole=pole,
            method=method,
            params=dict(params),
            shape=self.shape,
            layer=torch.div(flat, self.shape[1], rounding_mode="floor"),
            index=flat % self.shape[1],
            d=score[flat].to(torch.float64),
            p=self.p[pole][flat],
            q95=self.q95[pole][flat],
            effect_size=sign * self.effect[flat],
        )


# ---------------------------------------------------------------------- methods


class SelectionMethod(Protocol):
    """A selection strategy: two poles' statistics in, one :class:`Selection` out."""

    name: ClassVar[str]
    # The statistics (valuelocate.stats.STATISTICS) the method reads. Every
    # set carries p and q95 (the steering edit's v) and the prompt-level effect size, so all
    # methods need "histogram" and "prompt"; none reads the token variance ("var").
    needs: ClassVar[frozenset[str]]

    def __call__(self, affirm: NeuronStats, oppose: NeuronStats) -> Selection: ...


@dataclass(frozen=True, kw_only=True)
class DeltaP:
    """The study's rule on ``d = p+ - p-`` over all layers x neurons.

    For the affirming pole, rank all neurons by ``d`` (descending; ties by lower flat index),
    keep the first ``min_required`` unconditionally, then keep adding while ``d >= threshold``.
    The opposing pole is the same on ``-d``. Because the first ``min_required`` are kept
    whatever their score, a large ``min_required`` can select a neuron with ``d < 0`` for the
    affirming pole (and put one neuron in both sets); the study did this, and so do we.

    Attributes:
        min_required: neurons kept unconditionally: an int count or a float fraction of all
            neurons. The study kept 2000 for 7-9B models, 0.44 % of Llama-3-8B's 458,752;
            the default 0.005 is about that share (230 of a 135M model's 46,080).
        threshold: keep adding neurons while ``d >= threshold`` (the study's 0.1).

    Example:
        >>> affirm_set, oppose_set = DeltaP(min_required=2000, threshold=0.1)(affirm, oppose)
    """

    name: ClassVar[str] = "delta-p"
    needs: ClassVar[frozenset[str]] = frozenset({"histogram", "prompt"})
    min_required: int | float = 0.005
    threshold: float = 0.1

    def __post_init__(self) -> None:
        resolve_count(self.min_required, 1, name="min_required")  # type and range check

    def __call__(self, affirm: NeuronStats, oppose: NeuronStats) -> Selection:
        data = _PoleData.of(affirm, oppose)
        d = data.p["affirm"] - data.p["oppose"]  # [layers * neurons]
        defined = ~torch.isnan(d)
        keep = resolve_count(self.min_required, d.numel(), name="min_required")
        params = {**dataclasses.asdict(self), "min_required_count": keep}
        sets = []
        for pole, score in _toward_each_pole(d):
            ranked = _rank(score, defined)
            passing = int((score[ranked] >= self.threshold).sum())  # a prefix: ranked by score
            sets.append(data.make_set(pole, self.name, params, ranked[: max(keep, passing)], score))
        return Selection(*sets)


@dataclass(frozen=True, kw_only=True)
class CohensD:
    """Prompt-level effect sizes with a significance test.

    For every neuron: Cohen's d (pooled SD) of the prompt means between the poles, Welch's
    t-test (Welch-Satterthwaite df, two-sided), then Benjamini-Hochberg over all neurons at
    FDR ``q``. The affirming pole gets the significant neurons with ``d > 0`` and
    ``|d| >= min_effect``, the opposing pole those with ``d < 0``; the score is ``d`` signed
    toward the pole.

    Attributes:
        q: false discovery rate (default 0.01).
        min_effect: smallest ``|d|`` kept (default 0: significance alone decides).

    Example:
        >>> selection = CohensD(q=0.01, min_effect=0.5)(affirm, oppose)
    """

    name: ClassVar[str] = "cohens-d"
    needs: ClassVar[frozenset[str]] = frozenset({"histogram", "prompt"})
    q: float = 0.01
    min_effect: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.q < 1.0:
            raise ValueError(f"q must lie in (0, 1), got {self.q}")
        if self.min_effect < 0:
            raise ValueError(f"min_effect must be >= 0, got {self.min_effect}")

    def __call__(self, affirm: NeuronStats, oppose: NeuronStats) -> Selection:
        data = _PoleData.of(affirm, oppose)
        _, _, pvalues = welch_t_test(affirm, oppose)
        significant = benjamini_hochberg(pvalues.flatten(), self.q)  # [layers * neurons]
        d = data.effect
        params = dataclasses.asdict(self)
        sets = []
        for pole, score in _toward_each_pole(d):
            eligible = significant & (score > 0) & (score >= self.min_effect)
            sets.append(data.make_set(pole, self.name, params, _rank(score, eligible), score))
        return Selection(*sets)


@dataclass(frozen=True, kw_only=True)
class Lape:
    """LAPE-style selection (Tang et al. 2024, "Language-Specific Neurons"), two poles.

    Normalise each neuron's ``(p+, p-)`` to a distribution and take its entropy ``H`` (natural
    log; 0 for a neuron active under one pole only, ``ln 2`` for one equally active under both).
    As in LAPE's code, a neuron is eligible only if its larger ``p`` exceeds ``min_p``; of the
    eligible, the ``quantile`` fraction of all neurons with the lowest entropy is kept (ties by
    lower flat index), and each goes to the pole with the larger ``p`` (equal p: never kept).
    The score is the specificity ``1 - H / ln 2`` in ``[0, 1]``.

    Attributes:
        quantile: share of all neurons to keep (float fraction or int count; LAPE's 1 %).
        min_p: activation-probability bar. ``None`` (default) uses LAPE's rule: the 0.95
            quantile of all neurons' p, both poles pooled (so only neurons that are among the
            most often active under some pole qualify).

    Example:
        >>> selection = Lape(quantile=0.01)(affirm, oppose)
    """

    name: ClassVar[str] = "lape"
    needs: ClassVar[frozenset[str]] = frozenset({"histogram", "prompt"})
    quantile: int | float = 0.01
    min_p: float | None = None

    def __post_init__(self) -> None:
        resolve_count(self.quantile, 1, name="quantile")

    def __call__(self, affirm: NeuronStats, oppose: NeuronStats) -> Selection:
        data = _PoleData.of(affirm, oppose)
        p1, p2 = data.p["affirm"], data.p["oppose"]  # [layers * neurons]
        total = p1 + p2
        entropy = -(_xlogx(p1 / total) + _xlogx(p2 / total))  # NaN where total is 0 or NaN
        bar = self.min_p if self.min_p is not None else _pooled_quantile(p1, p2, 0.95)
        eligible = ~torch.isnan(entropy) & (torch.maximum(p1, p2) > bar) & (p1 != p2)
        keep = resolve_count(self.quantile, p1.numel(), name="quantile")
        chosen = _rank(-entropy, eligible)[:keep]
        specificity = 1.0 - entropy / math.log(2.0)
        params = {**dataclasses.asdict(self), "min_p_used": bar, "count": keep}
        sets = []
        for pole, toward in _toward_each_pole(p1 - p2):
            flat = chosen[toward[chosen] > 0]
            flat = flat[torch.sort(specificity[flat], descending=True, stable=True).indices]
            sets.append(data.make_set(pole, self.name, params, flat, specificity))
        return Selection(*sets)


def _xlogx(x: Tensor) -> Tensor:
    return torch.where(x > 0, x * torch.log(x), torch.where(x == 0, 0.0, x))


def _pooled_quantile(a: Tensor, b: Tensor, q: float) -> float:
    """LAPE's bar: the ``round(q * m)``-th smallest of the m defined values of ``a`` and ``b``."""
    pooled = torch.cat([a, b])
    pooled = pooled[~torch.isnan(pooled)].sort().values
    if pooled.numel() == 0:
        return math.inf
    k = min(max(int(math.floor(q * pooled.numel() + 0.5)), 1), pooled.numel())
    return float(pooled[k - 1])


@dataclass(frozen=True, kw_only=True)
class MeanDiff:
    """Top neurons by the difference of token-level means, ``mean(a+) - mean(a-)``.

    Each pole keeps the ``top_k`` neurons with the largest positive difference toward it
    (fewer if fewer are positive: a neuron less active under a pole is not that pole's).

    Attributes:
        top_k: per pole, an int count or a float fraction of all neurons (default 0.01).

    Example:
        >>> selection = MeanDiff(top_k=500)(affirm, oppose)
    """

    name: ClassVar[str] = "mean-diff"
    needs: ClassVar[frozenset[str]] = frozenset({"histogram", "mean", "prompt"})
    top_k: int | float = 0.01

    def __post_init__(self) -> None:
        resolve_count(self.top_k, 1, name="top_k")

    def __call__(self, affirm: NeuronStats, oppose: NeuronStats) -> Selection:
        data = _PoleData.of(affirm, oppose)
        diff = (affirm.mean - oppose.mean).flatten()  # [layers * neurons]
        keep = resolve_count(self.top_k, diff.numel(), name="top_k")
        params = {**dataclasses.asdict(self), "count": keep}
        sets = []
        for pole, score in _toward_each_pole(diff):
            flat = _rank(score, score > 0)[:keep]  # NaN > 0 is False: undefined never kept
            sets.append(data.make_set(pole, self.name, params, flat, score))
        return Selection(*sets)


# ---------------------------------------------------------------------- registry

SELECTION_METHODS: Mapping[str, Callable[..., SelectionMethod]] = MappingProxyType(
    {cls.name: cls for cls in (DeltaP, CohensD, Lape, MeanDiff)}
)


def get_method(name: str) -> Callable[..., SelectionMethod]:
    """The constructor of the selection method ``name`` (call it with the method's keyword
    parameters).

    Raises:
        ValueError: for an unknown name, listing the known ones and the closest match.

    Example:
        >>> method = get_method("delta-p")(min_required=2000, threshold=0.1)
        >>> selection = method(affirm_stats, oppose_stats)
    """
    try:
        return SELECTION_METHODS[name]
    except KeyError:
        known = ", ".join(sorted(SELECTION_METHODS))
        close = difflib.get_close_matches(name, list(SELECTION_METHODS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown selection method {name!r}; known: {known}.{hint}") from None


def select_neurons(
    affirm: NeuronStats,
    oppose: NeuronStats,
    *,
    method: str = "delta-p",
    params: Mapping[str, Any] | None = None,
) -> Selection:
    """Select each pole's neurons with the named method.

    Args:
        affirm, oppose: the two poles' statistics for one dimension.
        method: a key of :data:`SELECTION_METHODS`.
        params: the method's parameters (its dataclass fields); defaults otherwise.

    Returns:
        The :class:`Selection` of both poles.

    Example:
        >>> sel = select_neurons(affirm, oppose, method="cohens-d", params={"q": 0.05})
        >>> len(sel.affirm), len(sel.oppose)
    """
    return get_method(method)(**dict(params or {}))(affirm, oppose)
