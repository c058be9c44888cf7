"""The gamma that spends a budget: every vector's own search, all in one batched pass a step.

:func:`calibrate` finds, for many added vectors at once, the largest strength gamma whose
measured cost (a :class:`~valuelocate.comparison.cost.VectorCost`, the neutral-text perplexity
ratio) is within the budget and within ``tolerance`` of it (METHOD.md section 8: equal damage,
not equal gamma). Each step measures only the vectors not yet in the window, one batched call.

The next gamma comes from a model of the log cost along each vector,
``L(gamma) = a gamma + b gamma**2 + c gamma**3``, where ``a`` is the exact slope at gamma 0
(``slopes``: :meth:`~valuelocate.comparison.cost.VectorCost.slopes`, one backward pass for
every vector) and ``b``, ``c`` are fitted to the one or two measurements nearest the budget.
The slope matters: an edit's first-order effect on the neutral texts' likelihood is often as
large as its second-order one at the budget, of either sign, and a search blind to it misses
the window far more often (on SmolLM2's 180 vectors a dimension, 2026-12-05: the log-log
secant used before needed 640 vector measurements in 12 passes, this search 429 in 4 with
:func:`quadratic_gammas` as the starts). Without ``slopes`` ``a`` is taken as 0 and the fitted
terms absorb it locally. Every guess stays strictly inside the bracket of the
largest gamma measured within budget and the smallest over it, so no gamma over budget is
ever returned.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

# A guess moves at most this factor from the nearest measured gamma (a model fitted far from
# the budget can be wild).
MAX_STEP = 4.0


def _root(a: float, b: float, c: float, aim: float, near: float) -> float | None:
    """The positive gamma where ``a g + b g**2 + c g**3`` reaches ``aim`` (Newton from
    ``near`` when ``c`` is not 0); None where the model does not rise to it there."""
    if c == 0.0:
        if b <= 0.0:
            return None
        return (-a + math.sqrt(a * a + 4.0 * b * aim)) / (2.0 * b)
    g = near
    for _ in range(50):
        slope = a + 2.0 * b * g + 3.0 * c * g * g
        if slope <= 0.0:
            return None
        step = (a * g + b * g * g + c * g**3 - aim) / slope
        g -= step
        if g <= 0.0:
            return None
        if abs(step) <= 1e-12 * g:
            return g
    return None


def _guess(a: float, measured: list[tuple[float, float]], aim: float) -> float:
    """The next gamma from the slope ``a`` and the (gamma, log cost) measurements."""
    nearest = sorted(measured, key=lambda m: abs(m[1] - aim))[:2]
    g1, l1 = nearest[0]
    guess = None
    if len(nearest) == 2 and nearest[1][0] != g1:
        g2, l2 = nearest[1]
        # (L - a g) / g**2 = b + c g through both points
        r1, r2 = (l1 - a * g1) / g1**2, (l2 - a * g2) / g2**2
        c = (r2 - r1) / (g2 - g1)
        guess = _root(a, r1 - c * g1, c, aim, g1)
    if guess is None:
        guess = _root(a, (l1 - a * g1) / g1**2, 0.0, aim, g1)
    if guess is None:  # the cost has not started to rise: go further out
        return g1 * MAX_STEP
    return min(max(guess, g1 / MAX_STEP), g1 * MAX_STEP)


def calibrate(
    cost: Callable[[Tensor], Tensor],
    vectors: Tensor,
    start: Tensor,
    *,
    budget: float,
    steps: int = 3,
    tolerance: float = 0.05,
    slopes: Tensor | None = None,
    on_pass: Callable[[int], None] | None = None,
) -> tuple[Tensor, Tensor]:
    """Every vector's largest measured gamma within ``budget`` (perplexity ratio), all at once.

    Each step evaluates, in one batched ``cost`` call, every vector whose best gamma within
    budget is not yet within ``tolerance`` of it (relative, on log cost:
    ``[(1 - tol) log b, log b]``), aiming at the window's middle (see the module docstring).

    Args:
        cost: ``[k, D]`` added vectors -> ``[k]`` perplexity ratios.
        vectors: ``[k, D]``, each searched along its own direction.
        start: ``[k]`` the first gammas tried.
        budget, steps, tolerance: the ratio to spend, the most steps, the window.
        slopes: ``[k]`` each vector's exact ``d log cost / d gamma`` at gamma 0 (0 if None).
        on_pass: told how many vectors each step measured.

    Returns:
        ``(gammas, costs)`` ``[k]``: per vector the largest gamma measured within budget and
        its measured cost; ``(0, 1)`` (no edit) if every gamma tried was over budget.
    """
    target = math.log(budget)
    aim = (1 - tolerance / 2) * target
    k = start.numel()
    a = [0.0] * k if slopes is None else [float(s) for s in slopes.double()]
    nxt = start.double().clone()  # the next gamma to try, per vector
    low = torch.zeros(k, dtype=torch.float64)  # largest gamma measured within budget
    low_cost = torch.ones(k, dtype=torch.float64)
    high = torch.full((k,), math.inf, dtype=torch.float64)  # smallest gamma measured over it
    seen: list[list[tuple[float, float]]] = [[] for _ in range(k)]
    for _ in range(max(steps, 1)):
        todo = low_cost.log() < (1 - tolerance) * target
        if not bool(todo.any()):
            break
        measured = cost(vectors[todo] * nxt[todo, None]).double()
        if on_pass is not None:
            on_pass(int(todo.sum()))
        for j, i in enumerate(torch.nonzero(todo).flatten().tolist()):
            g, c = float(nxt[i]), float(measured[j])
            if c <= budget:
                if g > float(low[i]):
                    low[i], low_cost[i] = g, c
            else:
                high[i] = min(float(high[i]), g)
            seen[i].append((g, math.log(c)))
            guess = _guess(a[i], seen[i], aim)
            lo, hi = float(low[i]), float(high[i])
            if not lo < guess < hi:
                guess = (lo + hi) / 2 if math.isfinite(hi) else max(2 * lo, guess)
            nxt[i] = guess
    return low, low_cost


def curvature(vectors: Tensor, slopes: Tensor, gammas: Tensor, costs: Tensor) -> float | None:
    """The mean second-order coefficient of calibrated vectors' log cost per unit squared norm,
    ``(log cost - a gamma) / (gamma |v|)**2`` (None when none was calibrated): on SmolLM2 it
    varies about 25% between random sets of a ladder point and little between points, so it
    starts other vectors' searches near the budget (:func:`quadratic_gammas`). None too when
    it is not positive (a cost that does not bend upward gives no start)."""
    found = gammas > 0
    if not bool(found.any()):
        return None
    norm = vectors[found].double().norm(dim=1) * gammas[found]
    second = costs[found].log() - slopes[found].double() * gammas[found]
    bend = float((second / norm.clamp(min=1e-30) ** 2).mean())
    return bend if bend > 0 else None


def quadratic_gammas(
    vectors: Tensor, slopes: Tensor, curvature: float, *, budget: float, tolerance: float = 0.05
) -> Tensor:
    """Per vector the gamma where ``a gamma + curvature |v|**2 gamma**2`` reaches the middle
    of the budget's window (``a``: ``slopes``): where :func:`calibrate` starts them."""
    aim = (1 - tolerance / 2) * math.log(budget)
    a = slopes.double()
    b = (vectors.double().norm(dim=1) ** 2 * curvature).clamp(min=1e-30)
    return (-a + (a * a + 4 * b * aim).sqrt()) / (2 * b)


__all__ = ["calibrate", "curvature", "quadratic_gammas"]
