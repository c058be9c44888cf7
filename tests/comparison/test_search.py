"""The budget's gamma search: it never returns a gamma over budget, reaches the window, and
with each vector's exact slope (``VectorCost.slopes``, checked against finite differences)
and the starts a shared curvature gives, needs fewer passes."""

from __future__ import annotations

import math

import torch

from valuelocate.comparison.cost import VectorCost
from valuelocate.comparison.search import calibrate, curvature, quadratic_gammas

WINDOW = (0.95 * math.log(1.10), math.log(1.10))


def test_calibrate_reaches_the_budget() -> None:
    scales = torch.tensor([0.5, 2.0, 7.0], dtype=torch.float64)

    def fake(vectors: torch.Tensor) -> torch.Tensor:
        # vector k (a multiple of e_k) costs exp((scale_k |v|)^2 + 0.1 |v|)
        norm = vectors.norm(dim=1)
        which = vectors.abs().argmax(dim=1)
        return torch.exp((scales[which] * norm) ** 2 + 0.1 * norm)

    vectors = torch.eye(3, dtype=torch.float64)
    gammas, costs = calibrate(fake, vectors, torch.ones(3), budget=1.10, steps=6)
    assert torch.allclose(
        costs.log(), torch.full((3,), math.log(1.10), dtype=torch.float64), rtol=0.05
    )
    assert bool((gammas > 0).all())


def test_calibrate_never_returns_a_gamma_over_budget_even_when_the_cost_is_lopsided() -> None:
    # a first-order term makes +v much dearer than -v (as real edits are); a secant that
    # assumes log cost ~ gamma**2 alone would overshoot
    def lopsided(vectors: torch.Tensor) -> torch.Tensor:
        s = vectors.sum(dim=1)
        return torch.exp(0.02 * s * s + 0.05 * s)

    vectors = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    for steps in (1, 2, 3, 8):
        gammas, costs = calibrate(
            lopsided, vectors, torch.full((2,), 3.0), budget=1.10, steps=steps
        )
        assert bool((costs <= 1.10).all())
        assert torch.allclose(costs, lopsided(vectors * gammas[:, None]))
        assert torch.allclose(costs[gammas == 0], torch.ones(1, dtype=torch.float64))
    assert bool((costs.log() >= 0.95 * math.log(1.10)).all())  # converged with 8 steps
    assert gammas[0] < gammas[1]


def _cubic(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor):  # type: ignore[no-untyped-def]
    """Vector k (a multiple of e_k): log cost a_k g + b_k g**2 + c_k g**3 of its norm g."""

    def cost(vectors: torch.Tensor) -> torch.Tensor:
        g = vectors.norm(dim=1)
        k = vectors.abs().argmax(dim=1)
        return torch.exp(a[k] * g + b[k] * g**2 + c[k] * g**3)

    return cost


def test_calibrate_with_exact_slopes_lands_sooner_than_without() -> None:
    # first-order terms of either sign as large as the second-order ones at the budget, and a
    # third-order term (the shape SmolLM2's vectors' costs have)
    a = torch.tensor([0.05, -0.04, 0.02, -0.06, 0.0], dtype=torch.float64)
    b = torch.tensor([0.02, 0.03, 0.05, 0.04, 0.03], dtype=torch.float64)
    c = torch.tensor([0.002, 0.004, 0.0, 0.006, 0.003], dtype=torch.float64)
    cost = _cubic(a, b, c)
    vectors = torch.eye(5, dtype=torch.float64)
    start = torch.full((5,), 0.5, dtype=torch.float64)
    passes = {}
    for name, slopes in (("exact", a), ("none", None)):
        counts: list[int] = []
        gammas, costs = calibrate(
            cost, vectors, start, budget=1.10, steps=12, slopes=slopes, on_pass=counts.append
        )
        assert bool((costs.log() >= WINDOW[0]).all()) and bool((costs <= 1.10).all())
        torch.testing.assert_close(costs, cost(vectors * gammas[:, None]))
        passes[name] = len(counts)
    # one point and the exact slope fit a quadratic, two points the exact cubic: in the window
    # by the third pass at the latest
    assert passes["exact"] <= 3 < passes["none"]


def test_quadratic_starts_from_a_shared_curvature_land_at_once() -> None:
    # log cost a_k g + beta |v|**2 g**2: one curvature per unit squared norm for all vectors
    beta = 0.03
    a = torch.tensor([0.05, -0.04, 0.0], dtype=torch.float64)
    norms = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    vectors = torch.diag(norms)

    def cost(v: torch.Tensor) -> torch.Tensor:
        k = v.abs().argmax(dim=1)
        g = v.norm(dim=1) / norms[k]
        return torch.exp(a[k] * g + beta * v.norm(dim=1) ** 2)

    # the curvature of one calibrated vector gives the others' starts
    g0, c0 = calibrate(cost, vectors[:1], torch.ones(1), budget=1.10, steps=8, slopes=a[:1])
    bend = curvature(vectors[:1], a[:1], g0, c0)
    assert bend is not None and abs(bend - beta) < 1e-9
    start = quadratic_gammas(vectors, a, bend, budget=1.10)
    counts: list[int] = []
    _, costs = calibrate(
        cost, vectors, start, budget=1.10, steps=8, slopes=a, on_pass=counts.append
    )
    assert counts == [3]  # every vector in the window from its start
    torch.testing.assert_close(
        costs.log(), torch.full((3,), 0.975 * math.log(1.10), dtype=torch.float64)
    )


def test_curvature_is_none_when_nothing_was_calibrated_or_the_cost_does_not_bend_up() -> None:
    vectors = torch.eye(2, dtype=torch.float64)
    none = torch.zeros(2, dtype=torch.float64)
    assert curvature(vectors, none, none, torch.ones(2, dtype=torch.float64)) is None
    # log cost 0.1 at gamma 1 where the slope alone predicts 0.2: no upward bend to start from
    slopes = torch.full((2,), 0.2, dtype=torch.float64)
    gammas = torch.ones(2, dtype=torch.float64)
    costs = torch.full((2,), math.exp(0.1), dtype=torch.float64)
    assert curvature(vectors, slopes, gammas, costs) is None


def test_vector_cost_slopes_equal_finite_differences(stories_lm) -> None:  # type: ignore[no-untyped-def]
    """The exact slope at gamma 0 (one backward per text) against the central difference of
    the measured log cost (whose second-order term cancels)."""
    texts = ["Once upon a time there was a cat.", "The sun was hot.", "A dog ran home."]
    layers = [1, 2, 3]
    neurons = stories_lm.model.config.intermediate_size
    g = torch.Generator().manual_seed(3)
    vectors = torch.randn(4, len(layers) * neurons, generator=g, dtype=torch.float64)
    vectors[1, :neurons] = 0.0  # one that leaves the first layer alone
    cost = VectorCost(stories_lm, texts, layers, rows_per_forward=8)
    slopes = cost.slopes(vectors)
    eps = 1e-3
    central = (cost(eps * vectors).log() - cost(-eps * vectors).log()) / (2 * eps)
    assert float(slopes.abs().min()) > 1e-3  # the check is not of zeros
    torch.testing.assert_close(slopes, central, rtol=2e-3, atol=1e-5)
    assert cost.slopes(vectors[:1]).item() == slopes[0].item()  # the gradient is kept
