"""Strength at matched cost: the gamma at which an edit reaches a damage budget.

Usage:

1. ``cost = NeutralCost(lm, kind="ppl", texts=load_neutral_texts())`` measures the unedited
   model on the neutral texts (:func:`valuelocate.data.load_neutral_texts`) once;
   ``cost(edit)`` is then the edit's perplexity ratio (``kind="kl"``: the mean per-token
   KL divergence from the unedited next-token distribution, nats).
2. ``found = find_gamma(lambda g: cost(edit.with_gamma(g)), budget=1.10)`` returns the largest
   gamma found (by doubling, then bisection) whose cost stays within the budget, and its cost.
3. Compare methods at their own ``found.gamma``; give the random control the same gamma.

:class:`BudgetSearchOptions` declares the budget and the search's options once, for both
``valuelocate compare`` and the main job's verdict.

Why: methods differ in how hard they push per unit of gamma, so comparing them at one gamma
compares nothing; at equal damage to neutral text the comparison is fair (METHOD.md section 7).
The perplexity ratio is ``exp(mean_texts(nll_edited) - mean_texts(nll_unedited))``: the
geometric mean over texts of each text's perplexity ratio.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from valuelocate.forward import forward_logits, input_device
from valuelocate.models import LoadedModel
from valuelocate.optionspec import option
from valuelocate.prompting import left_pad, pad_token_id
from valuelocate.steering.intervention import Intervention, applied

CostKind = Literal["ppl", "kl"]


def _padded(lm: LoadedModel, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
    """The texts' token ids, left-padded into one batch: ``(ids, mask)`` ``[texts, seq]``."""
    return left_pad([lm.tokenizer(t)["input_ids"] for t in texts], pad_token_id(lm.tokenizer))


def _log_probs(
    lm: LoadedModel, ids: Tensor, mask: Tensor, edit: Intervention | None, *, batch_size: int
) -> list[Tensor]:
    """Per text, ``[tokens-1, vocab]`` next-token log-probabilities of its real tokens.

    The texts run ``batch_size`` at a time, left-padded, positions skipping the padding
    (:func:`~valuelocate.forward.forward_logits`); padding is never read, so the result equals
    one text per forward to float tolerance (tested) for any edit that acts position by
    position. A stochastic edit (the study's dynamic rule) draws once per forward call, so it
    draws once per batch here rather than once per text.
    """
    device = input_device(lm.model)
    out: list[Tensor] = []
    with torch.no_grad(), applied(lm.model, edit):
        for begin in range(0, ids.shape[0], batch_size):
            batch = {
                "input_ids": ids[begin : begin + batch_size].to(device),
                "attention_mask": mask[begin : begin + batch_size].to(device),
            }
            logits = forward_logits(lm.model, batch, last_only=False)
            for row, row_mask in zip(logits, mask[begin : begin + batch_size], strict=True):
                real = int(row_mask.sum())
                kept = row[row.shape[0] - real : -1].float()
                out.append(torch.log_softmax(kept, dim=-1).cpu())
    return out


def _nll(log_probs: list[Tensor], texts_ids: list[Tensor]) -> Tensor:
    """Mean NLL per predicted token of each text, ``[texts]`` float64."""
    return torch.stack(
        [
            -lp.gather(-1, ids[1:, None]).squeeze(-1).double().mean()
            for lp, ids in zip(log_probs, texts_ids, strict=True)
        ]
    )


@dataclass
class NeutralCost:
    """The cost of an edit on neutral text, against the unedited model measured once.

    Attributes:
        lm: the model.
        kind: ``ppl`` (perplexity ratio, 1.0 = no damage) or ``kl`` (mean token KL, nats).
        texts: the neutral texts, e.g. the shipped ones
            (:func:`valuelocate.data.load_neutral_texts`; steering sits below the data layer, so
            the caller reads them).
        batch_size: texts per forward (left-padded; ``1`` is one text per forward, no padding).
    """

    lm: LoadedModel
    kind: CostKind = "ppl"
    texts: Sequence[str] = ()
    batch_size: int = 8
    _base: list[Tensor] = field(init=False, repr=False)
    _ids: list[Tensor] = field(init=False, repr=False)
    _padded: tuple[Tensor, Tensor] = field(init=False, repr=False)
    calls: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.kind not in ("ppl", "kl"):
            raise ValueError(f"Unknown cost {self.kind!r}; expected ppl or kl")
        if not self.texts:
            raise ValueError("NeutralCost needs texts, e.g. valuelocate.data.load_neutral_texts()")
        self._padded = _padded(self.lm, self.texts)
        ids, mask = self._padded
        self._ids = [row[row.shape[0] - int(m.sum()) :] for row, m in zip(ids, mask, strict=True)]
        self._base = self._read(None)

    def _read(self, edit: Intervention | None) -> list[Tensor]:
        return _log_probs(self.lm, *self._padded, edit, batch_size=self.batch_size)

    def __call__(self, edit: Intervention | None) -> float:
        self.calls += 1
        edited = self._read(edit)
        if self.kind == "ppl":
            gap = _nll(edited, self._ids).mean() - _nll(self._base, self._ids).mean()
            return float(math.exp(float(gap)))
        kls = [(b.exp() * (b - e)).sum(-1).mean() for b, e in zip(self._base, edited, strict=True)]
        return float(torch.stack(kls).mean())

    @property
    def neutral_level(self) -> float:
        """The cost of no edit: 1.0 for ``ppl``, 0.0 for ``kl``."""
        return 1.0 if self.kind == "ppl" else 0.0


@dataclass(frozen=True)
class Budget:
    """A damage budget: ``kind`` (``ppl`` ratio or mean token ``kl``) and the level to reach.

    Written ``ppl=1.10`` or ``kl=0.05`` on the command line (:meth:`parse`)."""

    kind: CostKind = "ppl"
    level: float = 1.10

    @classmethod
    def parse(cls, text: str) -> Budget:
        """``"ppl=1.10"`` -> ``Budget("ppl", 1.10)``; a bare number is a perplexity ratio.

        Raises:
            ValueError: naming ``--budget`` and what was expected.
        """
        kind, _, value = text.strip().rpartition("=")
        kind = kind.strip() or "ppl"
        try:
            level = float(value)
        except ValueError:
            level = math.nan
        if kind not in ("ppl", "kl") or not math.isfinite(level):
            raise ValueError(f"--budget takes ppl=RATIO or kl=NATS (e.g. ppl=1.10), got {text!r}")
        if (kind == "ppl" and level <= 1.0) or (kind == "kl" and level <= 0.0):
            raise ValueError(f"--budget {text!r}: a perplexity ratio must be above 1, a KL above 0")
        return cls(kind, level)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.kind}={self.level:g}"


@dataclass(frozen=True)
class BudgetSearchOptions:
    """The budget search's options, declared once: the damage budget and how
    :func:`find_gamma` looks for the gamma that reaches it. ``valuelocate compare``'s
    ``CompareOptions`` and the main job's ``VerdictOptions`` both extend it (same flags
    ``--budget``, ``--steps``, ``--start-gamma``, same defaults)."""

    budget: str = option(
        "ppl=1.10",
        "Damage budget every edit is pushed to: ppl=RATIO (neutral-text perplexity ratio) or "
        "kl=NATS (mean token KL).",
    )
    steps: int = option(3, "Bisection steps of the budget search.", min=0)
    start_gamma: float = option(2.0, "First gamma of the budget search (then doubled).", min=0.001)

    def budget_spec(self) -> Budget:
        """The parsed ``--budget``."""
        return Budget.parse(self.budget)


@dataclass(frozen=True)
class BudgetResult:
    """What :func:`find_gamma` found.

    Attributes:
        gamma: the largest gamma tried whose cost is within the budget (0 if none).
        cost: its cost.
        evaluations: (gamma, cost) pairs in the order tried.
        reached: whether a gamma past the budget was found (else ``gamma`` is ``max_gamma``
            or the cost never got there).
    """

    gamma: float
    cost: float
    evaluations: tuple[tuple[float, float], ...]
    reached: bool


def find_gamma(
    cost: Callable[[float], float],
    *,
    budget: float,
    start: float = 1.0,
    max_gamma: float = 64.0,
    steps: int = 6,
    neutral: float = 1.0,
) -> BudgetResult:
    """The gamma at which ``cost(gamma)`` reaches ``budget``, by doubling then bisection.

    Doubles ``gamma`` from ``start`` until the cost exceeds the budget (or ``max_gamma``),
    then bisects ``steps`` times between the last gamma within budget and the first past it.
    The cost need not be monotone at small gamma (a ratio just below 1 is common); the
    search assumes only that it crosses the budget once.

    Args:
        cost: gamma -> cost (e.g. ``lambda g: neutral_cost(edit.with_gamma(g))``).
        budget: the cost to reach (``1.10`` for a perplexity ratio).
        start, max_gamma: the first gamma tried and the largest.
        steps: bisection steps after bracketing.
        neutral: the cost at gamma 0 (1.0 for a ratio, 0.0 for a KL).

    Example:
        >>> find_gamma(lambda g: 1 + 0.01 * g * g, budget=1.10).gamma  # about sqrt(10)
    """
    if start <= 0 or max_gamma < start:
        raise ValueError("Need 0 < start <= max_gamma")
    tried: list[tuple[float, float]] = []
    low, low_cost = 0.0, neutral
    high: float | None = None
    gamma = start
    while True:
        value = cost(gamma)
        tried.append((gamma, value))
        if value > budget:
            high = gamma
            break
        low, low_cost = gamma, value
        if gamma >= max_gamma:
            break
        gamma = min(gamma * 2.0, max_gamma)
    if high is None:
        return BudgetResult(low, low_cost, tuple(tried), False)
    for _ in range(steps):
        middle = (low + high) / 2.0
        value = cost(middle)
        tried.append((middle, value))
        if value > budget:
            high = middle
        else:
            low, low_cost = middle, value
    return BudgetResult(low, low_cost, tuple(tried), True)
