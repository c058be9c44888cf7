"""Prompt-level effect sizes and significance: Cohen's d, Welch's t-test, Benjamini-Hochberg.

The statistics are taken over prompt means (one value per prompt and neuron, streamed by
:class:`~valuelocate.stats.NeuronStats`), so a long answer does not count as many samples. The
t distribution's tail and the Benjamini-Hochberg adjustment come from ``scipy``: a well-kept
library's numerics, checked here against a t table, closed forms and hand-worked cases
(``tests/test_selection.py``).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import special
from scipy import stats as scipy_stats
from torch import Tensor

from valuelocate.stats import NeuronStats


def _numpy(value: Tensor | float) -> np.ndarray:
    return torch.as_tensor(value, dtype=torch.float64).detach().cpu().numpy()


def regularized_incomplete_beta(x: Tensor, a: Tensor | float, b: Tensor | float) -> Tensor:
    """``I_x(a, b)``, element-wise, in float64 (``scipy.special.betainc``).

    Args:
        x: points in ``[0, 1]``.
        a, b: positive shape parameters (broadcast with ``x``).

    Returns:
        ``I_x(a, b)`` with the broadcast shape, on ``x``'s device; NaN where an input is NaN.

    Example:
        >>> regularized_incomplete_beta(torch.tensor(0.5), 2.0, 2.0)
        tensor(0.5000, dtype=torch.float64)
    """
    x = torch.as_tensor(x, dtype=torch.float64)
    value = special.betainc(_numpy(a), _numpy(b), _numpy(x))
    return torch.as_tensor(np.asarray(value, dtype=np.float64)).to(x.device)


def t_test_pvalue(t: Tensor, df: Tensor) -> Tensor:
    """Two-sided p-value of Student's t with ``df`` (possibly fractional) degrees of freedom,
    ``P(|T| >= |t|)`` (``scipy.stats.t``).

    Infinite ``|t|`` gives 0; otherwise a NaN ``t`` or ``df``, or ``df <= 0``, gives NaN.

    Example:
        >>> t_test_pvalue(torch.tensor(2.228), torch.tensor(10.0))  # about 0.05
    """
    t = torch.as_tensor(t, dtype=torch.float64)
    df = torch.as_tensor(df, dtype=torch.float64)
    t, df = torch.broadcast_tensors(t, df)
    tail = scipy_stats.t.sf(np.abs(_numpy(t)), _numpy(df))
    p = torch.as_tensor(2.0 * np.asarray(tail, dtype=np.float64)).to(t.device)
    return torch.where(torch.isinf(t), 0.0, p).clamp(0.0, 1.0)


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

    Example:
        >>> cohens_d(affirm_stats, oppose_stats)[20, 5]  # layer 20, neuron 5
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
    ``(v+/n+ + v-/n-)^2 / ((v+/n+)^2 / (n+ - 1) + (v-/n-)^2 / (n- - 1))``; the statistic comes
    from the streamed moments (no sample is kept), the tail from :func:`t_test_pvalue`.

    Returns:
        ``(t, df, pvalue)``, each ``[layers, neurons]`` float64. The two-sided p-value is 1
        where the test is undefined (a pole with fewer than two prompts, or no spread and no
        difference) and 0 where there is a difference but no spread.

    Example:
        >>> t, df, p = welch_t_test(affirm_stats, oppose_stats)
    """
    n1, m1, _ = _prompt_moments(affirm)
    n2, m2, _ = _prompt_moments(oppose)
    v1, v2 = affirm.prompt_var / n1, oppose.prompt_var / n2  # squared standard errors
    se2 = v1 + v2
    t = (m1 - m2) / se2.sqrt()
    df = se2.square() / (v1.square() / (n1 - 1) + v2.square() / (n2 - 1))
    p = t_test_pvalue(t, df)
    return t, df, torch.nan_to_num(p, nan=1.0)


def benjamini_hochberg(pvalues: Tensor, q: float) -> Tensor:
    """Benjamini-Hochberg step-up procedure: which hypotheses to reject at FDR ``q``.

    With the m p-values sorted, ``p_(1) <= ... <= p_(m)``, find the largest ``k`` with
    ``p_(k) <= k q / m`` and reject the ``k`` smallest; computed as "BH-adjusted p-value
    (``scipy.stats.false_discovery_control``) ``<= q``", the same rule. NaN counts as 1 (never
    rejected, but part of m).

    Args:
        pvalues: any shape.
        q: the false discovery rate, in ``(0, 1)``.

    Returns:
        bool tensor of ``pvalues``' shape (and device), True where rejected.

    Example:
        >>> benjamini_hochberg(torch.tensor([0.001, 0.03, 0.028, 0.2]), 0.05)
        tensor([ True,  True,  True, False])
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"FDR level q must lie in (0, 1), got {q}")
    p = torch.nan_to_num(pvalues.flatten().to(torch.float64), nan=1.0)  # [m]
    if p.numel() == 0:
        return torch.zeros_like(pvalues, dtype=torch.bool)
    adjusted = scipy_stats.false_discovery_control(_numpy(p), method="bh")
    reject = torch.as_tensor(np.asarray(adjusted) <= q)
    return reject.view(pvalues.shape).to(pvalues.device)
