"""Selection strategies: from two poles' statistics to the neurons of each pole.

Usage:

1. Collect :class:`~valuelocate.stats.NeuronStats` for the affirming and the opposing pole of
   one dimension (same model, same geometry).
2. Pick a method by name, ``get_method("delta-p")(threshold=0.1)``, or build one directly,
   ``DeltaP(min_required=2000)``.
3. ``selection = method(affirm, oppose)`` returns a :class:`Selection`: one :class:`NeuronSet`
   per pole, each neuron with its layer, index, score ``d`` (signed toward the pole), its own
   pole's ``p`` and ``q95``, and the prompt-level Cohen's d toward the pole.
4. ``selection.save(path)`` / ``Selection.load(path)`` keep it as safetensors with JSON
   parameters.

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
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal, Protocol

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import Tensor

from valuelocate.stats import NeuronStats

Pole = Literal["affirm", "oppose"]
POLES: tuple[Pole, ...] = ("affirm", "oppose")
SET_FORMAT = "valuelocate.Selection"
SET_VERSION = "1"
_SET_FIELDS = ("layer", "index", "d", "p", "q95", "effect_size")

# ---------------------------------------------------------------------- neuron sets


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
    """The two poles' neuron sets of one dimension; unpacks as ``affirm, oppose = selection``."""

    affirm: NeuronSet
    oppose: NeuronSet

    def __iter__(self) -> Iterator[NeuronSet]:
        return iter((self.affirm, self.oppose))

    def pole(self, name: Pole) -> NeuronSet:
        """The set of pole ``name``."""
        if name not in POLES:
            raise ValueError(f"Unknown pole {name!r}; expected one of: {', '.join(POLES)}")
        return self.affirm if name == "affirm" else self.oppose

    def save(self, path: str | Path, *, metadata: Mapping[str, str] | None = None) -> None:
        """Write both sets to one safetensors file (tensors ``affirm.layer`` ...; the method,
        parameters and shape in its JSON header, plus free-form ``metadata``)."""
        tensors = {
            f"{s.pole}.{name}": getattr(s, name).contiguous() for s in self for name in _SET_FIELDS
        }
        header = {
            "format": SET_FORMAT,
            "version": SET_VERSION,
            "method": self.affirm.method,
            "params": json.dumps(dict(self.affirm.params), sort_keys=True),
            "shape": json.dumps(list(self.affirm.shape)),
        }
        clash = sorted(set(metadata or {}) & set(header))
        if clash:
            raise ValueError(f"Metadata keys {clash} are reserved")
        save_file(
            tensors, str(path), {**header, **{str(k): str(v) for k, v in (metadata or {}).items()}}
        )

    @classmethod
    def load(cls, path: str | Path) -> Selection:
        """Read a file written by :meth:`save`; raises ValueError naming the file otherwise."""
        try:
            with safe_open(str(path), framework="pt") as handle:
                header = dict(handle.metadata() or {})
            tensors = load_file(str(path))
        except (SafetensorError, RuntimeError) as err:
            raise ValueError(f"Cannot read a selection from {path}: {err}") from err
        if header.get("format") != SET_FORMAT or header.get("version") != SET_VERSION:
            raise ValueError(f"{path} is not a {SET_FORMAT} v{SET_VERSION} file")
        try:
            params = json.loads(header["params"])
            num_layers, neurons = (int(v) for v in json.loads(header["shape"]))
            sets = [
                NeuronSet(
                    pole,
                    header["method"],
                    params,
                    (num_layers, neurons),
                    **{name: tensors[f"{pole}.{name}"] for name in _SET_FIELDS},
                )
                for pole in POLES
            ]
        except (KeyError, ValueError, TypeError) as err:
            raise ValueError(f"Invalid selection file {path}: {err!r}") from err
        for s in sets:
            lengths = {getattr(s, name).shape for name in _SET_FIELDS}
            if len(lengths) != 1 or len(next(iter(lengths))) != 1:
                raise ValueError(f"Invalid selection file {path}: ragged {s.pole} tensors")
        return cls(*sets)


# ---------------------------------------------------------------------- statistics


def regularized_incomplete_beta(x: Tensor, a: Tensor | float, b: Tensor | float) -> Tensor:
    """``I_x(a, b)``, element-wise, in float64 (continued fraction, Lentz's method).

    Args:
        x: points in ``[0, 1]``.
        a, b: positive shape parameters (broadcast with ``x``).

    Returns:
        ``I_x(a, b)`` with the broadcast shape; NaN where an input is NaN.

    Example:
        >>> regularized_incomplete_beta(torch.tensor(0.5), 2.0, 2.0)
        tensor(0.5000, dtype=torch.float64)
    """
    x = torch.as_tensor(x, dtype=torch.float64)
    return _betainc(x, 1.0 - x, a, b)


def _betainc(x: Tensor, y: Tensor, a: Tensor | float, b: Tensor | float) -> Tensor:
    """``I_x(a, b)`` given ``y = 1 - x`` computed without cancellation by the caller."""
    x, y, a, b = torch.broadcast_tensors(
        *(torch.as_tensor(v, dtype=torch.float64) for v in (x, y, a, b))
    )
    # The continued fraction converges fast for x < (a + 1) / (a + b + 2); elsewhere use
    # I_x(a, b) = 1 - I_{1-x}(b, a).
    flip = x > (a + 1.0) / (a + b + 2.0)
    aa, bb = torch.where(flip, b, a), torch.where(flip, a, b)
    xx, yy = torch.where(flip, y, x), torch.where(flip, x, y)
    log_front = (
        aa * torch.log(xx)
        + bb * torch.log1p(-xx).where(xx < 0.5, torch.log(yy))
        - (torch.lgamma(aa) + torch.lgamma(bb) - torch.lgamma(aa + bb))
        - torch.log(aa)
    )
    value = torch.exp(log_front) * _beta_continued_fraction(xx, aa, bb)
    value = torch.where(xx == 0, 0.0, value)
    return torch.where(flip, 1.0 - value, value)


def _beta_continued_fraction(
    x: Tensor, a: Tensor, b: Tensor, *, max_iter: int = 5000, eps: float = 1e-14
) -> Tensor:
    """Modified Lentz evaluation of the incomplete beta continued fraction (Numerical Recipes
    ``betacf``), vectorised over 1-D-flattened inputs. Every few steps, elements that have
    converged (``|step - 1| <= eps``) leave the working set, so the cost follows the average,
    not the slowest, element (``O(sqrt(max(a, b)))`` steps near the switch point)."""
    tiny = 1e-300

    def guard(t: Tensor) -> Tensor:
        return torch.where(t.abs() < tiny, tiny, t)

    shape = x.shape
    x, a, b = x.reshape(-1), a.reshape(-1), b.reshape(-1)
    out = torch.full_like(x, torch.nan)
    live = torch.arange(x.numel())  # elements still iterating
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = torch.ones_like(x)
    d = 1.0 / guard(1.0 - qab * x / qap)
    h = d.clone()
    for m in range(1, max_iter + 1):
        m2 = 2.0 * m
        num = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 / guard(1.0 + num * d)
        c = guard(1.0 + num / c)
        h = h * d * c
        num = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 / guard(1.0 + num * d)
        c = guard(1.0 + num / c)
        step = d * c
        h = h * step
        if m % 4:
            continue  # check every few steps: compacting costs more than a step
        going = (step - 1.0).abs() > eps  # NaN compares False: a NaN element stops as NaN
        if not bool(going.all()):
            done = ~going
            out[live[done]] = h[done]
            live, x, a, b, c, d, h = (t[going] for t in (live, x, a, b, c, d, h))
            qab, qap, qam = a + b, a + 1.0, a - 1.0
        if live.numel() == 0:
            break
    return out.view(shape)


def t_test_pvalue(t: Tensor, df: Tensor) -> Tensor:
    """Two-sided p-value of Student's t with ``df`` (possibly fractional) degrees of freedom:
    ``P(|T| >= |t|) = I_{df / (df + t^2)}(df / 2, 1 / 2)``.

    Infinite ``|t|`` gives 0; NaN ``t`` or ``df`` gives NaN.

    Example:
        >>> t_test_pvalue(torch.tensor(2.228), torch.tensor(10.0))  # about 0.05
    """
    t = torch.as_tensor(t, dtype=torch.float64)
    df = torch.as_tensor(df, dtype=torch.float64)
    t2 = t.square()
    x = df / (df + t2)
    y = t2 / (df + t2)
    p = _betainc(
        torch.where(torch.isinf(t2), 0.0, x), torch.where(torch.isinf(t2), 1.0, y), df / 2, 0.5
    )
    return p.clamp(0.0, 1.0)


def _prompt_moments(stats: NeuronStats) -> tuple[Tensor, Tensor, Tensor]:
    """(count [L, 1], mean [L, N], sum of squares about the mean [L, N]) over prompts."""
    n = stats.prompt_count.to(torch.float64)[:, None]
    ss = torch.where(n > 1, stats.prompt_var * (n - 1), 0.0)
    return n, stats.prompt_mean, ss


def cohens_d(affirm: NeuronStats, oppose: NeuronStats) -> Tensor:
    """Prompt-level Cohen's d with the pooled standard deviation, toward the affirming pole.

    ``d = (m+ - m-) / s``, ``s^2 = (SS+ + SS-) / (n+ + n- - 2)`` over prompt means. Zero where
    both means and the spread are zero, +-inf where only the spread is, NaN where a pole has no
    prompt or there are fewer than three in all.

    Returns:
        ``[layers, neurons]`` float64.
    """
    n1, m1, ss1 = _prompt_moments(affirm)
    n2, m2, ss2 = _prompt_moments(oppose)
    dof = n1 + n2 - 2
    sd = torch.sqrt((ss1 + ss2) / dof.clamp(min=1.0))
    diff = m1 - m2
    d = torch.where(sd > 0, diff / sd, diff.sign() * torch.inf)
    d = torch.where(diff == 0, 0.0, d)
    return torch.where((n1 > 0) & (n2 > 0) & (dof > 0), d, torch.nan)


def welch_t_test(affirm: NeuronStats, oppose: NeuronStats) -> tuple[Tensor, Tensor, Tensor]:
    """Welch's unequal-variance t-test on prompt means, per neuron.

    ``t = (m+ - m-) / sqrt(v+/n+ + v-/n-)`` with Welch-Satterthwaite degrees of freedom
    ``(v+/n+ + v-/n-)^2 / ((v+/n+)^2 / (n+ - 1) + (v-/n-)^2 / (n- - 1))``.

    Returns:
        ``(t, df, pvalue)``, each ``[layers, neurons]`` float64. The two-sided p-value is 1
        where the test is undefined (a pole with fewer than two prompts, or no spread and no
        difference) and 0 where there is a difference but no spread.
    """
    n1, m1, _ = _prompt_moments(affirm)
    n2, m2, _ = _prompt_moments(oppose)
    v1, v2 = affirm.prompt_var / n1, oppose.prompt_var / n2  # squared standard errors
    se2 = v1 + v2
    t = (m1 - m2) / se2.sqrt()
    df = se2.square() / (v1.square() / (n1 - 1) + v2.square() / (n2 - 1))
    p = t_test_pvalue(t, df)
    p = torch.where(torch.isinf(t), 0.0, p)
    return t, df, torch.nan_to_num(p, nan=1.0)


def benjamini_hochberg(pvalues: Tensor, q: float) -> Tensor:
    """Benjamini-Hochberg step-up procedure: which hypotheses to reject at FDR ``q``.

    With the m p-values sorted, ``p_(1) <= ... <= p_(m)``, find the largest ``k`` with
    ``p_(k) <= k q / m`` and reject the ``k`` smallest. NaN counts as 1 (never rejected, but
    part of m).

    Args:
        pvalues: any shape.
        q: the false discovery rate, in ``(0, 1)``.

    Returns:
        bool tensor of ``pvalues``' shape, True where rejected.

    Example:
        >>> benjamini_hochberg(torch.tensor([0.001, 0.03, 0.028, 0.2]), 0.05)
        tensor([ True,  True,  True, False])
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"FDR level q must lie in (0, 1), got {q}")
    p = torch.nan_to_num(pvalues.flatten().to(torch.float64), nan=1.0)  # [m]
    m = p.numel()
    if m == 0:
        return torch.zeros_like(pvalues, dtype=torch.bool)
    sorted_p, order = torch.sort(p, stable=True)
    ranks = torch.arange(1, m + 1, dtype=torch.float64)
    passing = (sorted_p <= ranks * (q / m)).nonzero()
    k = int(passing[-1]) + 1 if passing.numel() else 0
    reject = torch.zeros(m, dtype=torch.bool)
    reject[order[:k]] = True
    return reject.view(pvalues.shape)


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
    # [stats issue 12] The statistics (valuelocate.stats.STATISTICS) the method reads. Every
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
    needs: ClassVar[frozenset[str]] = frozenset({"histogram", "prompt"})  # [stats issue 12]
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
    needs: ClassVar[frozenset[str]] = frozenset({"histogram", "prompt"})  # [stats issue 12]
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
    needs: ClassVar[frozenset[str]] = frozenset({"histogram", "prompt"})  # [stats issue 12]
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
    needs: ClassVar[frozenset[str]] = frozenset({"histogram", "mean", "prompt"})  # [issue 12]
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
