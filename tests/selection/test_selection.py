"""Tests for valuelocate.selection against hand-worked cases and textbook values.

Sections mirror the package: ``selection.methods`` (delta-p, cohens-d, lape, mean-diff, the
registry), ``selection.significance`` (t p-values, Welch, Cohen's d, Benjamini-Hochberg) and
``selection.sets`` (the values). Saving and loading neuron sets is in ``test_artifacts.py``.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from valuelocate.selection import SELECTION_METHODS
from valuelocate.selection.methods import (
    CohensD,
    DeltaP,
    Lape,
    MeanDiff,
    get_method,
    resolve_count,
    select_neurons,
)
from valuelocate.selection.sets import NeuronSet
from valuelocate.selection.significance import (
    benjamini_hochberg,
    cohens_d,
    regularized_incomplete_beta,
    t_test_pvalue,
    welch_t_test,
)
from valuelocate.stats import NeuronStats

# ---------------------------------------------------------------------- helpers


def make_stats(
    p: Tensor,
    *,
    n: int = 8,
    mean: Tensor | None = None,
    prompt_mean: Tensor | None = None,
    prompt_var: Tensor | None = None,
    prompts: int = 10,
    active_value: float = 1.0,
) -> NeuronStats:
    """Statistics with chosen values: ``p`` [L, N] (multiples of 1/n; NaN for a layer with no
    token), token means and prompt-level moments. Active tokens sit at ``active_value`` in the
    histogram, inactive ones below zero."""
    layers, neurons = p.shape
    empty = torch.isnan(p).all(1)  # [L]
    n_layer = torch.where(empty, 0, n).to(torch.int64)  # [L]
    c = torch.round(torch.nan_to_num(p) * n).to(torch.int64)  # [L, N]
    hist = torch.zeros(layers, neurons, 301, dtype=torch.int32)
    hist[..., 0] = (n_layer[:, None] - c).to(torch.int32)
    hist[..., int(active_value / 0.01) + 1] = c.to(torch.int32)
    zeros = torch.zeros(layers, neurons, dtype=torch.float64)
    prompt_n = torch.where(empty, 0, prompts).to(torch.int64)
    pvar = zeros if prompt_var is None else prompt_var.double()
    return NeuronStats.from_state_dict(
        {
            "n": n_layer,
            "hist": hist,
            "mean": zeros if mean is None else mean.double(),
            "m2": zeros.clone(),
            "prompt_n": prompt_n,
            "prompt_mean": zeros if prompt_mean is None else prompt_mean.double(),
            "prompt_m2": pvar * (prompt_n[:, None] - 1).clamp(min=0),
        }
    )


def flat(neuron_set: NeuronSet) -> list[int]:
    return neuron_set.flat_index.tolist()


# p+ and p- in eighths (exact in binary), 2 layers x 3 neurons.
# d = p+ - p- = [6, 0, -1, 2, 0, 5] / 8 by flat index.
P_AFFIRM = torch.tensor([[7, 4, 2], [3, 3, 5]], dtype=torch.float64) / 8
P_OPPOSE = torch.tensor([[1, 4, 3], [1, 3, 0]], dtype=torch.float64) / 8


@pytest.fixture
def poles() -> tuple[NeuronStats, NeuronStats]:
    return make_stats(P_AFFIRM), make_stats(P_OPPOSE)


# ---------------------------------------------------------------------- methods: delta-p


@pytest.mark.parametrize(
    ("min_required", "threshold", "affirm", "oppose"),
    [
        (0, 0.1, [0, 5, 3], [2]),  # threshold only
        (0, 0.25, [0, 5, 3], []),  # d == threshold is kept (2/8 exactly); -d tops at 1/8
        (2, 0.7, [0, 5], [2, 1]),  # min_required reached after the threshold stops
        (4, 0.1, [0, 5, 3, 1], [2, 1, 4, 3]),  # ties (d = 0 at 1 and 4) by lower flat index
        (6, 0.1, [0, 5, 3, 1, 4, 2], [2, 1, 4, 3, 5, 0]),  # negative d kept, as in the study
        (100, 0.1, [0, 5, 3, 1, 4, 2], [2, 1, 4, 3, 5, 0]),  # more than all neurons
        (0.5, 0.1, [0, 5, 3], [2, 1, 4]),  # a fraction: half of 6 neurons
        (0.01, 0.1, [0, 5, 3], [2]),  # 0.06 neurons rounds to 0
    ],
)
def test_delta_p_hand_cases(
    poles: tuple[NeuronStats, NeuronStats],
    min_required: int | float,
    threshold: float,
    affirm: list[int],
    oppose: list[int],
) -> None:
    selection = DeltaP(min_required=min_required, threshold=threshold)(*poles)
    assert flat(selection.affirm) == affirm
    assert flat(selection.oppose) == oppose


def test_delta_p_set_carries_own_pole_values(poles: tuple[NeuronStats, NeuronStats]) -> None:
    affirm_stats, oppose_stats = poles
    affirm, oppose = DeltaP(min_required=0, threshold=0.1)(*poles)
    assert affirm.layer.tolist() == [0, 1, 1] and affirm.index.tolist() == [0, 2, 0]
    assert affirm.d.tolist() == [6 / 8, 5 / 8, 2 / 8]
    assert oppose.d.tolist() == [1 / 8]
    assert affirm.p.tolist() == [7 / 8, 5 / 8, 3 / 8]
    assert oppose.p.tolist() == [3 / 8]  # the opposing pole's own p at neuron 2
    assert torch.equal(affirm.q95, affirm_stats.q95.flatten()[affirm.flat_index])
    assert torch.equal(oppose.q95, oppose_stats.q95.flatten()[oppose.flat_index])
    assert affirm.method == "delta-p" and affirm.params["min_required_count"] == 0
    assert {k: v.tolist() for k, v in affirm.by_layer().items()} == {0: [0], 1: [0, 2]}
    assert affirm.counts_per_layer().tolist() == [1, 2]


def test_delta_p_never_selects_neurons_without_tokens() -> None:
    p_affirm = torch.tensor([[0.5, 0.25], [math.nan, math.nan]], dtype=torch.float64)
    p_oppose = torch.tensor([[0.25, 0.5], [math.nan, math.nan]], dtype=torch.float64)
    affirm, oppose = DeltaP(min_required=100, threshold=0.0)(
        make_stats(p_affirm), make_stats(p_oppose)
    )
    assert flat(affirm) == [0, 1] and flat(oppose) == [1, 0]


def test_delta_p_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="fraction"):
        DeltaP(min_required=2000.0)
    with pytest.raises(ValueError, match=">= 0"):
        DeltaP(min_required=-1)
    with pytest.raises(TypeError):
        DeltaP(min_required=True)


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="shape"):
        DeltaP()(make_stats(P_AFFIRM), make_stats(P_AFFIRM[:, :2]))


def test_resolve_count() -> None:
    assert resolve_count(0.01, 46080, name="k") == 461
    assert resolve_count(2000, 46080, name="k") == 2000
    assert resolve_count(50, 10, name="k") == 10
    assert resolve_count(1.0, 10, name="k") == 10
    assert resolve_count(0, 10, name="k") == 0
    assert resolve_count(0.25, 10, name="k") == 3  # 2.5 rounds half up


# ---------------------------------------------------------------------- significance


@pytest.mark.parametrize(
    ("t", "df", "expected"),
    [
        (2.228, 10, 0.05),  # two-sided critical values from a standard t table
        (3.169, 10, 0.01),
        (2.086, 20, 0.05),
        (2.845, 20, 0.01),
        (12.706, 1, 0.05),
        (1.960, 1e7, 0.05),  # the normal limit
        (2.576, 1e7, 0.01),
    ],
)
def test_t_pvalues_match_a_t_table(t: float, df: float, expected: float) -> None:
    got = t_test_pvalue(torch.tensor([t, -t]), torch.tensor([df, df]))
    assert got.tolist() == pytest.approx([expected, expected], abs=1e-3)


def test_t_pvalues_match_closed_forms_and_integration() -> None:
    t = torch.tensor([0.0, 0.3, 1.0, 2.5, 7.0, 40.0], dtype=torch.float64)
    # df = 1 (Cauchy) and df = 2 have closed forms.
    cauchy = 1.0 - 2.0 / math.pi * torch.atan(t)
    torch.testing.assert_close(t_test_pvalue(t, torch.ones_like(t)), cauchy, rtol=1e-10, atol=0)
    df2 = 1.0 - t / torch.sqrt(2.0 + t.square())
    torch.testing.assert_close(t_test_pvalue(t, torch.full_like(t, 2.0)), df2, rtol=1e-9, atol=0)
    # A fractional df against numerical integration of the t density.
    nu = 3.7
    grid = torch.linspace(2.5, 2000.0, 2_000_001, dtype=torch.float64)
    log_c = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
    density = torch.exp(log_c - (nu + 1) / 2 * torch.log1p(grid.square() / nu))
    tail = 2 * torch.trapezoid(density, grid).item()
    assert t_test_pvalue(torch.tensor(2.5), torch.tensor(nu)).item() == pytest.approx(
        tail, rel=1e-6
    )
    # Limits: infinite t, undefined inputs, and large df converges.
    assert t_test_pvalue(torch.tensor(math.inf), torch.tensor(5.0)).item() == 0.0
    assert math.isnan(t_test_pvalue(torch.tensor(math.nan), torch.tensor(5.0)).item())
    assert t_test_pvalue(torch.tensor(3.0), torch.tensor(8000.0)).item() == pytest.approx(
        0.002707, abs=2e-5
    )


def test_regularized_incomplete_beta_identities() -> None:
    x = torch.tensor([0.0, 0.1, 0.37, 0.5, 0.9, 1.0], dtype=torch.float64)
    torch.testing.assert_close(regularized_incomplete_beta(x, 3.0, 1.0), x**3)
    torch.testing.assert_close(regularized_incomplete_beta(x, 1.0, 2.5), 1 - (1 - x) ** 2.5)
    sym = regularized_incomplete_beta(torch.tensor([0.5, 0.5]), torch.tensor([2.0, 300.0]), 2.0)
    assert sym[0].item() == pytest.approx(0.5, abs=1e-14)


def test_benjamini_hochberg_hand_worked() -> None:
    # m = 4, q = 0.05: thresholds 0.0125, 0.025, 0.0375, 0.05. Sorted p: 0.001 (pass),
    # 0.028 (fails 0.025), 0.03 (passes 0.0375), 0.2 (fails). Step-up: the largest passing
    # rank is 3, so the three smallest are rejected, 0.028 included.
    p = torch.tensor([0.03, 0.001, 0.2, 0.028])
    assert benjamini_hochberg(p, 0.05).tolist() == [True, True, False, True]
    assert benjamini_hochberg(p, 0.001).tolist() == [False, False, False, False]
    assert benjamini_hochberg(torch.tensor([[0.001, math.nan]]), 0.01).tolist() == [[True, False]]
    # Five p-values at q = 0.05: 0.005, 0.01, 0.03, 0.04 pass k q / m; 0.2 does not.
    p5 = torch.tensor([0.01, 0.04, 0.03, 0.005, 0.2])
    assert benjamini_hochberg(p5, 0.05).tolist() == [True, True, True, True, False]


def fed_stats(samples: list[Tensor]) -> NeuronStats:
    """Stats whose prompt means are exactly ``samples`` (each [prompts] for one neuron)."""
    values = torch.stack(samples, dim=-1)  # [prompts, neurons]
    stats = NeuronStats(1, len(samples))
    stats.add(0, values[:, None, :])  # one token per prompt: the prompt mean is the value
    stats.end_batch()
    return stats


def test_cohens_d_and_welch_against_textbook_formulas() -> None:
    gen = torch.Generator().manual_seed(0)
    a = [torch.randn(12, generator=gen, dtype=torch.float64) * s + m for m, s in ((1, 1), (0, 2))]
    b = [torch.randn(7, generator=gen, dtype=torch.float64) * s for s in (1, 0.5)]
    affirm, oppose = fed_stats(a), fed_stats(b)
    d = cohens_d(affirm, oppose)[0]
    t, df, p = welch_t_test(affirm, oppose)
    for j in range(2):
        x, y = a[j], b[j]
        pooled = (((len(x) - 1) * x.var() + (len(y) - 1) * y.var()) / (len(x) + len(y) - 2)).sqrt()
        assert d[j].item() == pytest.approx(((x.mean() - y.mean()) / pooled).item(), rel=1e-10)
        se1, se2 = x.var() / len(x), y.var() / len(y)
        assert t[0, j].item() == pytest.approx(
            ((x.mean() - y.mean()) / (se1 + se2).sqrt()).item(), rel=1e-10
        )
        welch_df = (se1 + se2) ** 2 / (se1**2 / (len(x) - 1) + se2**2 / (len(y) - 1))
        assert df[0, j].item() == pytest.approx(welch_df.item(), rel=1e-10)
    assert p[0].tolist() == pytest.approx(t_test_pvalue(t[0], df[0]).tolist(), rel=1e-12)


def test_cohens_d_corner_cases() -> None:
    # Neuron 0: no spread, no difference -> 0; neuron 1: no spread, a difference -> +inf.
    affirm = fed_stats([torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)])
    oppose = fed_stats([torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)])
    assert cohens_d(affirm, oppose)[0].tolist() == [0.0, math.inf]
    _, _, p = welch_t_test(affirm, oppose)
    assert p[0].tolist() == [1.0, 0.0]


# ---------------------------------------------------------------------- methods: cohens-d


def test_cohens_d_method_selects_significant_effects() -> None:
    # One layer, four neurons, 20 prompts per pole with unit variance:
    # a large positive effect, a large negative one, none, and a tiny one.
    mean_affirm = torch.tensor([[2.0, 0.0, 0.0, 0.05]])
    mean_oppose = torch.tensor([[0.0, 2.0, 0.0, 0.0]])
    ones = torch.ones(1, 4)
    p = torch.full((1, 4), 0.5, dtype=torch.float64)
    common = {"prompt_var": ones, "prompts": 20}
    affirm = make_stats(p, prompt_mean=mean_affirm, **common)
    oppose = make_stats(p, prompt_mean=mean_oppose, **common)
    selection = CohensD(q=0.01)(affirm, oppose)
    assert flat(selection.affirm) == [0] and flat(selection.oppose) == [1]
    assert selection.affirm.d.tolist() == [2.0] and selection.oppose.d.tolist() == [2.0]
    assert selection.affirm.effect_size.tolist() == [2.0]
    assert selection.oppose.effect_size.tolist() == [2.0]
    assert len(CohensD(q=0.01, min_effect=2.5)(affirm, oppose).affirm) == 0
    # At q close to 1 every neuron with p <= q passes, the tiny effect still not (p ~ 0.88).
    assert flat(CohensD(q=0.5)(affirm, oppose).affirm) == [0]


# ---------------------------------------------------------------------- methods: lape


def test_lape_hand_case() -> None:
    # Entropy of (p+, p-) normalised: neuron 0 (0.8, 0) -> 0; 1 (0, 0.6) -> 0;
    # 2 (0.9, 0.3) -> H(0.75); 3 (0.2, 0.0) -> 0 but p below the bar; 4 (0.7, 0.7) -> ln 2;
    # 5 (0, 0) -> undefined.
    p_affirm = torch.tensor([[0.8, 0.0, 0.9, 0.2, 0.7, 0.0]], dtype=torch.float64)
    p_oppose = torch.tensor([[0.0, 0.6, 0.3, 0.0, 0.7, 0.0]], dtype=torch.float64)
    affirm, oppose = make_stats(p_affirm, n=10), make_stats(p_oppose, n=10)
    selection = Lape(quantile=3, min_p=0.5)(affirm, oppose)
    assert flat(selection.affirm) == [0, 2] and flat(selection.oppose) == [1]
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert selection.affirm.d.tolist() == pytest.approx([1.0, 1.0 - h / math.log(2)])
    assert selection.oppose.p.tolist() == pytest.approx([0.6])
    # Only the two lowest entropies (ties 0, 1 by index) when keeping 2.
    two = Lape(quantile=2, min_p=0.5)(affirm, oppose)
    assert flat(two.affirm) == [0] and flat(two.oppose) == [1]
    # Default bar: the round(0.95 * 12) = 11th smallest of the 12 pooled p values is 0.8,
    # and only p > 0.8 qualifies: neuron 2.
    default = Lape(quantile=1.0)(affirm, oppose)
    assert flat(default.affirm) == [2] and flat(default.oppose) == []
    assert default.affirm.params["min_p_used"] == pytest.approx(0.8)


# ---------------------------------------------------------------------- methods: mean-diff


def test_mean_diff_top_k() -> None:
    p = torch.full((2, 2), 0.5, dtype=torch.float64)
    mean_affirm = torch.tensor([[1.0, 0.2], [0.5, math.nan]])
    mean_oppose = torch.tensor([[0.0, 0.4], [0.5, 0.0]])
    affirm, oppose = make_stats(p, mean=mean_affirm), make_stats(p, mean=mean_oppose)
    selection = MeanDiff(top_k=2)(affirm, oppose)
    # diff = [1.0, -0.2, 0.0, nan]: affirm only neuron 0 is positive; oppose only neuron 1.
    assert flat(selection.affirm) == [0] and flat(selection.oppose) == [1]
    assert selection.oppose.d.tolist() == pytest.approx([0.2])
    assert MeanDiff(top_k=0.25)(affirm, oppose).affirm.params["count"] == 1


# ---------------------------------------------------------------------- methods: registry


def test_registry_and_unknown_names(poles: tuple[NeuronStats, NeuronStats]) -> None:
    assert sorted(SELECTION_METHODS) == ["cohens-d", "delta-p", "lape", "mean-diff"]
    assert get_method("lape") is Lape
    with pytest.raises(ValueError, match="known: cohens-d, delta-p, lape, mean-diff") as err:
        get_method("delta_p")
    assert "Did you mean 'delta-p'?" in str(err.value)
    with pytest.raises(TypeError):
        SELECTION_METHODS["x"] = DeltaP  # type: ignore[index]
    via_name = select_neurons(*poles, method="delta-p", params={"min_required": 0})
    assert flat(via_name.affirm) == [0, 5, 3]


# Parameters that suit a 2 x 10 model (the defaults are fractions sized for real models, which
# round to no neuron here). A new method must be added here, or the test below fails.
SMALL_MODEL_PARAMS: dict[str, dict[str, float | int]] = {
    "delta-p": {"min_required": 0, "threshold": 0.5},
    "cohens-d": {"q": 0.01},
    "lape": {"quantile": 4, "min_p": 0.5},
    "mean-diff": {"top_k": 2},
}
PLANTED_AFFIRM = [(0, 2), (1, 7)]  # (layer, index): active under affirm, silent under oppose
PLANTED_OPPOSE = [(0, 5), (1, 1)]  # the reverse


def test_every_method_selects_the_planted_neurons_on_random_stats() -> None:
    gen = torch.Generator().manual_seed(0)
    pair = []
    for sign in (1.0, -1.0):  # affirm, then oppose
        values = torch.randn(6, 5, 2, 10, generator=gen)  # [prompts, tokens, layers, neurons]
        for layer, index in PLANTED_AFFIRM:
            values[:, :, layer, index] += 3.0 * sign
        for layer, index in PLANTED_OPPOSE:
            values[:, :, layer, index] -= 3.0 * sign
        stats = NeuronStats(2, 10)
        for layer in range(2):
            stats.add(layer, values[:, :, layer])
        stats.end_batch()
        pair.append(stats)
    assert sorted(SMALL_MODEL_PARAMS) == sorted(SELECTION_METHODS)
    for name in SELECTION_METHODS:
        affirm, oppose = get_method(name)(**SMALL_MODEL_PARAMS[name])(*pair)
        assert affirm.pole == "affirm" and oppose.pole == "oppose" and affirm.method == name
        for s, planted in ((affirm, PLANTED_AFFIRM), (oppose, PLANTED_OPPOSE)):
            assert sorted(zip(s.layer.tolist(), s.index.tolist(), strict=True)) == planted, name
            assert s.layer.dtype == torch.int64 and s.d.dtype == torch.float64
            assert len({t.shape for t in (s.layer, s.index, s.d, s.p, s.q95, s.effect_size)}) == 1
            assert bool((s.d[:-1] >= s.d[1:]).all())  # best first
            assert bool((s.effect_size > 2).all()), name  # a large effect toward its own pole
            assert bool((s.p > 0.9).all()), name  # active under its own pole


# ---------------------------------------------------------------------- sets


def test_selection_unpacks_and_names_its_poles(poles: tuple[NeuronStats, NeuronStats]) -> None:
    selection = DeltaP(min_required=0, threshold=0.1)(*poles)
    affirm, oppose = selection
    assert selection.pole("affirm") is affirm and selection.pole("oppose") is oppose
    assert affirm.flat_index.tolist() == [0, 5, 3] and len(oppose) == 1
    with pytest.raises(ValueError, match="Unknown pole 'neutral'"):
        selection.pole("neutral")  # type: ignore[arg-type]
