"""Reading results out of :class:`valuelocate.stats.NeuronStats`: counts, activation
probability, moments and histogram quantiles, each ``[layers, neurons]`` on the CPU.

:class:`StatsReadout` is the base class of the accumulator
(:class:`~valuelocate.stats.accumulator.NeuronStats`), so that the accumulation and the
readings stay separately readable. The per-layer state it reads is declared and documented on
it; the accumulator fills it in and keeps it up to date.
"""

from __future__ import annotations

import torch
from torch import Tensor

from valuelocate.stats.moments import Moments


def gather(per_layer: list[Tensor]) -> Tensor:
    """Stack one tensor per layer into one ``[layers, ...]`` tensor on the CPU."""
    return torch.stack([t.cpu() for t in per_layer])


class StatsReadout:
    """The readings of a :class:`~valuelocate.stats.NeuronStats`.

    The state below is the contract between this class and its subclass, which sets every
    attribute in its ``__init__`` (protected: read here, written only by the accumulator).

    Attributes:
        num_layers: number of decoder layers ``L``.
        neurons: neurons per layer ``N``.
        hist_bins: histogram bins ``B`` (bin 0: ``a <= 0``; bin ``B - 1``: the overflow).
        bin_width: width of the regular bins.
        statistics: which of :data:`~valuelocate.stats.STATISTICS` are kept.
        _hist: per layer, the ``[neurons * hist_bins]`` int32 histogram (neuron-major).
        _tok: per layer, the token-level :class:`~valuelocate.stats.moments.Moments`.
        _prompt: per layer, the prompt-level :class:`~valuelocate.stats.moments.Moments`.
    """

    num_layers: int
    neurons: int
    hist_bins: int
    bin_width: float
    statistics: frozenset[str]
    _hist: list[Tensor]
    _tok: list[Moments]
    _prompt: list[Moments]

    @property
    def keeps_histogram(self) -> bool:
        return "histogram" in self.statistics

    @property
    def keeps_var(self) -> bool:
        return "var" in self.statistics

    def _require(self, statistic: str) -> None:
        if statistic not in self.statistics:
            raise RuntimeError(
                f"These statistics were collected without {statistic!r} (kept: "
                f"{sorted(self.statistics)}); collect them with statistics including it"
            )

    # ------------------------------------------------------------------ results [layers, neurons]

    @property
    def n(self) -> Tensor:
        """Tokens counted per layer, ``[layers]`` int64."""
        return gather([m.n for m in self._tok])

    @property
    def c(self) -> Tensor:
        """Tokens with ``a > 0``, ``[layers, neurons]`` int64: all but histogram bin 0."""
        self._require("histogram")
        return gather(
            [m.n - self.histogram(layer)[:, 0].to(torch.int64) for layer, m in enumerate(self._tok)]
        )

    @property
    def p(self) -> Tensor:
        """Activation probability ``c / n``, ``[layers, neurons]`` float64 (NaN where n = 0)."""
        n = self.n.to(torch.float64)[:, None]
        return self.c.to(torch.float64) / n

    @property
    def mean(self) -> Tensor:
        """Token-level mean, ``[layers, neurons]`` float64 (NaN where n = 0)."""
        return self._moment_mean(self._tok)

    @property
    def var(self) -> Tensor:
        """Token-level unbiased variance, ``[layers, neurons]`` float64 (NaN where n < 2)."""
        self._require("var")
        return self._moment_var(self._tok)

    @property
    def prompt_count(self) -> Tensor:
        """Prompts with at least one counted token, per layer, ``[layers]`` int64."""
        return gather([m.n for m in self._prompt])

    @property
    def prompt_mean(self) -> Tensor:
        """Mean over prompts of each prompt's mean value, ``[layers, neurons]`` float64."""
        return self._moment_mean(self._prompt)

    @property
    def prompt_var(self) -> Tensor:
        """Unbiased variance over prompts of the prompt means, ``[layers, neurons]`` float64."""
        return self._moment_var(self._prompt)

    def _moment_mean(self, moments: list[Moments]) -> Tensor:
        mean = gather([m.mean for m in moments])
        n = gather([m.n for m in moments])[:, None]
        return torch.where(n > 0, mean, torch.nan)

    def _moment_var(self, moments: list[Moments]) -> Tensor:
        m2 = gather([m.m2 for m in moments])
        n = gather([m.n for m in moments])[:, None].to(torch.float64)
        return torch.where(n > 1, m2 / (n - 1).clamp(min=1.0), torch.nan)

    def histogram(self, layer: int) -> Tensor:
        """Layer ``layer``'s histogram, ``[neurons, hist_bins]`` (int32, on its device)."""
        self._require("histogram")
        return self._hist[layer].view(self.neurons, self.hist_bins)

    def bin_edges(self) -> Tensor:
        """Lower edges of bins ``1 .. B-1``, ``[hist_bins - 1]`` float64 (bin 0 has none)."""
        return torch.arange(self.hist_bins - 1, dtype=torch.float64) * self.bin_width

    def quantile(self, q: float) -> Tensor:
        """The ``q`` quantile of each neuron's values, read from its histogram.

        Rule: with ``t = q * n``, take the first bin ``k`` whose cumulative count reaches ``t``
        (it holds the ``ceil(t)``-th smallest value) and interpolate linearly inside it:
        ``(k - 1) * w + w * (t - cum_{k-1}) / count_k``. The result is within one bin width of
        that order statistic. Two bins have no width: the ``a <= 0`` bin reads as 0.0 (the
        histogram does not resolve negative values) and the overflow bin reads as its lower
        edge ``(B - 2) * w`` (a lower bound). NaN where ``n = 0``.

        Args:
            q: the quantile, in ``(0, 1]``.

        Returns:
            ``[layers, neurons]`` float64.
        """
        if not 0.0 < q <= 1.0:
            raise ValueError(f"Quantile must lie in (0, 1], got {q}")
        return gather([self._layer_quantile(layer, q) for layer in range(self.num_layers)])

    def _layer_quantile(self, layer: int, q: float) -> Tensor:
        hist = self.histogram(layer).to(torch.int64)  # [neurons, bins]
        cum = hist.cumsum(-1)  # [neurons, bins]
        n = self._tok[layer].n.to(torch.float64)
        target = q * n  # [] float64
        k = (cum.to(torch.float64) < target).sum(-1).clamp(max=self.hist_bins - 1)  # [neurons]
        count_k = hist.gather(1, k[:, None]).squeeze(1).to(torch.float64)
        below = cum.gather(1, k[:, None]).squeeze(1).to(torch.float64) - count_k
        frac = ((target - below) / count_k.clamp(min=1.0)).clamp(0.0, 1.0)
        lower = (k - 1).to(torch.float64) * self.bin_width
        value = lower + self.bin_width * frac
        value = torch.where(k == 0, 0.0, value)
        value = torch.where(k == self.hist_bins - 1, (self.hist_bins - 2) * self.bin_width, value)
        return torch.where(n > 0, value, torch.nan)

    @property
    def q95(self) -> Tensor:
        """95th percentile per neuron, ``[layers, neurons]`` float64 (see :meth:`quantile`)."""
        return self.quantile(0.95)
