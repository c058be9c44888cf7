"""The sparsity curve: every ladder point calibrated to the budget, read against its nulls.

:func:`calibrate_ladder` calibrates each point's +/- edit and its random same-count sets
(each by its own gamma search) and rebuilds the ladder under label shuffles; every gap is then
a linear read (:mod:`valuelocate.comparison.linear`). :func:`choose_default` applies the dev
rule (:data:`valuelocate.comparison.verdict.RULE`), :func:`curve_rows` writes the curve.

A random null at a point with fewer neurons than the band is a set with the same number of
neurons in each layer, drawn at random, carrying its own contrast difference. At the band
point every neuron is edited, so there its null keeps the neurons and permutes the vector's
values within each layer (the old matched control).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from valuelocate.comparison.cost import VectorCost
from valuelocate.comparison.forced_choice import likelihood_reading
from valuelocate.comparison.linear import LinearRead, agreement, vector_edit
from valuelocate.comparison.nulls import (
    ShuffleReads,
    prediction_pvalue,
    random_sets,
    shuffle_signs,
    shuffled_reads,
    shuffled_vector,
)
from valuelocate.comparison.search import calibrate, curvature, quadratic_gammas
from valuelocate.evaluation.statistics import rank_pvalue
from valuelocate.locating.ladder import Ladder
from valuelocate.models import LoadedModel
from valuelocate.steering.mean_diff import MeanDiffEdit

DEV_ALPHA = 0.05  # the dev rule's level, fixed before any run
COST_SAMPLE = 8  # label shuffles whose exact cost is measured at a point
# Search passes beyond ``--steps`` (each pass evaluates only the vectors not yet within the
# budget's window): with three passes a quarter of the random nulls stopped far below the
# budget (cost 0.99-1.09 on SmolLM2, 2026-12-03), read at a smaller strength than the edit.
EXTRA_PASSES = 9


def search_passes(options: Any) -> int:
    """Passes of a calibration search under ``options`` (its ``steps``)."""
    return max(options.steps, 3) + EXTRA_PASSES


@dataclass
class DimensionReads:
    """One dimension's ladder, its contrast items' differences and its linear reads
    (``dev``, ``forced_choice``, ``decision_pairs``; ``head``: the first test items)."""

    ladder: Ladder
    diffs: Tensor
    reads: dict[str, LinearRead]
    head: LinearRead | None = None


@dataclass
class Calibrated:
    """A dimension's ladder at the budget, with its nulls (see :func:`calibrate_ladder`)."""

    data: DimensionReads
    cost: VectorCost
    gammas: list[dict[str, float]]
    costs: list[dict[str, float]]
    nulls: list[list[tuple[Tensor, Tensor]]]  # per point: (flat, values) of each random null
    null_gammas: list[Tensor]
    null_costs: list[Tensor]
    signs: Tensor
    shuffles: ShuffleReads
    shuffle_norms: list[float]  # per point: the norm at which a label shuffle meets the budget
    budget: float  # the perplexity ratio every vector was calibrated to
    passes: int  # of each search (:func:`search_passes`)
    _samples: dict[int, list[float]] = field(default_factory=dict)
    _controls: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)

    @property
    def ladder(self) -> Ladder:
        return self.data.ladder

    def _gradient(self, name: str) -> Tensor:
        read = self.data.head if name == "head" else self.data.reads[name]
        assert read is not None
        return read.gradient

    def _mean_gamma(self, point: int) -> float:
        return (self.gammas[point]["affirm"] + self.gammas[point]["oppose"]) / 2

    def edit_gap(self, point: int, name: str) -> float:
        """The edit's linear gap: ``(gamma+ + gamma-) g . v``."""
        g = self._gradient(name)
        return 2 * self._mean_gamma(point) * float(g @ self.ladder.vector(point))

    def random_gaps(self, point: int, name: str) -> np.ndarray:
        """The random nulls' linear gaps, each at its own calibrated gamma."""
        g = self._gradient(name)
        dots = torch.stack([g[flat] @ values for flat, values in self.nulls[point]])
        return (2 * self.null_gammas[point] * dots).numpy()

    def shuffle_gaps(self, point: int, name: str) -> np.ndarray:
        """The label shuffles' linear gaps, each scaled to the point's calibrated shuffle norm."""
        scale = self.shuffle_norms[point] / self.shuffles.norms[:, point].clamp(min=1e-30)
        if name == "head":
            raise ValueError("shuffles are read on whole instruments")
        return (2 * scale * self.shuffles.dots[name][:, point]).numpy()

    def random_costs(self, point: int) -> list[float]:
        return [float(c) for c in self.null_costs[point]]

    def shuffle_cost_sample(self, point: int) -> list[float]:
        """The exact cost of the first few shuffles at the point's calibrated shuffle norm."""
        if point not in self._samples:
            size = self.ladder.sizes[point]
            norm = self.shuffle_norms[point]
            rows = []
            for k in range(min(COST_SAMPLE, self.signs.shape[0])):
                flat, values = shuffled_vector(self.data.diffs, self.signs[k], size)
                dense = torch.zeros(self.ladder.delta.numel(), dtype=torch.float64)
                dense[flat] = values * norm / max(float(values.norm()), 1e-30)
                rows.append(dense)
            self._samples[point] = [float(c) for c in self.cost(torch.stack(rows))]
        return self._samples[point]

    def control(self, point: int) -> dict[str, dict[str, float]]:
        """The served control's gamma and cost per pole: the first random null, toward the
        affirming pole at its calibrated gamma, toward the opposing one (the null negated, whose
        cost differs) by a search of its own here, started at the affirming gamma."""
        if point not in self._controls:
            flat, values = self.nulls[point][0]
            minus = -dense(flat, values, self.ladder.delta.numel())[None]
            start = self.null_gammas[point][:1].clone()
            found, cost = calibrate(
                self.cost, minus, start, budget=self.budget, steps=self.passes,
                slopes=self.cost.slopes(minus),
            )  # fmt: skip
            self._controls[point] = {
                "gammas": {"affirm": float(self.null_gammas[point][0]), "oppose": float(found[0])},
                "costs": {"affirm": float(self.null_costs[point][0]), "oppose": float(cost[0])},
            }
        return self._controls[point]

    def control_edit(self, point: int, pole: str) -> MeanDiffEdit:
        """The first random null as the served control (see :func:`control_edit`), at its
        own matched-cost gamma toward ``pole`` (:meth:`control`)."""
        flat, values = self.nulls[point][0]
        gamma = self.control(point)["gammas"][pole]
        return control_edit(self.ladder, flat, values, gamma, self.gammas[point][pole], pole)

    def agreement(
        self, lm: LoadedModel, items: Sequence[Any], chat_template: bool, point: int
    ) -> dict[str, Any]:
        """Linear against exact gaps on ``items`` (the reads' ``head``) at ``point``: the edit,
        the first random null and the first label shuffle."""
        layers, neurons = self.ladder.layers, self.ladder.neurons_per_layer
        size = self.ladder.sizes[point]
        g = self._gradient("head")
        out: dict[str, Any] = {"items": len(items)}
        flat_r, values_r = self.nulls[point][0]
        flat_s, values_s = shuffled_vector(self.data.diffs, self.signs[0], size)
        gamma_s = self.shuffle_norms[point] / max(float(values_s.norm()), 1e-30)
        gamma_r = float(self.null_gammas[point][0])
        cases = {
            "edit": (self.ladder.flat(point), self.ladder.delta[self.ladder.flat(point)],
                     self.gammas[point]["affirm"], self.gammas[point]["oppose"]),
            "random_set": (flat_r, values_r, gamma_r, gamma_r),
            "shuffle": (flat_s, values_s, gamma_s, gamma_s),
        }  # fmt: skip
        for name, (flat, values, up, down) in cases.items():
            plus = vector_edit(layers, neurons, flat, values, gamma=up)
            minus = vector_edit(layers, neurons, flat, values, gamma=-down)
            exact = likelihood_reading(
                lm, items, edit=plus, chat_template=chat_template
            ) - likelihood_reading(lm, items, edit=minus, chat_template=chat_template)
            linear = (up + down) * float(g[flat] @ values.double())
            out[name] = agreement(linear, float(exact.mean()))
        return out


def control_edit(
    ladder: Ladder, flat: Tensor, values: Tensor, gamma: float, edit_gamma: float, pole: str
) -> MeanDiffEdit:
    """A random null as the served control of a pole's edit: ``gamma`` is the null's own
    calibrated gamma toward that pole (the null negated for ``oppose``); stored at gamma 1
    scaled by ``gamma / edit_gamma``, so that at the edit's gamma it adds exactly its own
    calibrated strength."""
    sign = 1.0 if pole == "affirm" else -1.0
    scale = gamma / max(edit_gamma, 1e-30)
    return vector_edit(
        ladder.layers, ladder.neurons_per_layer, flat, sign * scale * values,
        kind="located-control",
    )  # fmt: skip


def point_nulls(ladder: Ladder, point: int, count: int, seed: int) -> list[tuple[Tensor, Tensor]]:
    """``count`` random nulls of ``point`` as (flat indices, values)."""
    if ladder.sizes[point] >= ladder.delta.numel():  # the band: permute values within layers
        generator = torch.Generator().manual_seed(seed)
        n = ladder.neurons_per_layer
        out = []
        for _ in range(count):
            values = ladder.delta.clone()
            for p in range(len(ladder.layers)):
                block = values[p * n : (p + 1) * n]
                values[p * n : (p + 1) * n] = block[torch.randperm(n, generator=generator)]
            out.append((torch.arange(values.numel()), values))
        return out
    counts = [ladder.counts(point).get(layer, 0) for layer in ladder.layers]
    sets = random_sets(counts, ladder.neurons_per_layer, count, seed=seed)
    return [(s, ladder.delta[s]) for s in sets]


def dense(flat: Tensor, values: Tensor, width: int) -> Tensor:
    out = torch.zeros(width, dtype=torch.float64)
    out[flat] = values.double()
    return out


def calibrate_ladder(
    lm: LoadedModel,
    data: DimensionReads,
    neutral: Sequence[str],
    *,
    budget: float,
    options: Any,
    progress: Callable[[str], None] | None = None,
    share: Callable[[float], None] | None = None,
) -> Calibrated:
    """Every ladder point's +/- edit and random nulls at the budget, and the label shuffles.

    ``options`` carries ``random_sets``, ``shuffles``, ``steps``, ``start_gamma`` and ``seed``
    (:class:`~valuelocate.comparison.verdict.VerdictOptions`). Every point's vectors are
    searched together (each by its own gamma search, one batched pass for all), so that the
    last passes, which measure a few vectors each, fill whole batches; ``share`` is told the
    share of the search done (an estimate, for a progress bar).
    """
    say = progress or (lambda _line: None)
    passes = search_passes(options)
    ladder = data.ladder
    width = ladder.delta.numel()
    cost = VectorCost(lm, neutral, ladder.layers)
    band = len(ladder.sizes) - 1
    v = ladder.vector(band)
    start = torch.full((2,), float(options.start_gamma), dtype=torch.float64)
    pair = torch.stack([v, -v])
    slopes = cost.slopes(pair)
    g, c = calibrate(cost, pair, start, budget=budget, steps=passes + 1, slopes=slopes)
    # the band's second-order cost per unit squared norm: where the other searches start
    bend = curvature(pair, slopes, g, c)
    signs = shuffle_signs(data.diffs.shape[0], options.shuffles, seed=options.seed)
    sample = min(COST_SAMPLE, options.shuffles)
    blocks, drawn_all = [], []
    for point in range(len(ladder.sizes)):
        v = ladder.vector(point)
        drawn = point_nulls(ladder, point, options.random_sets, options.seed + point)
        # a sample of label shuffles is calibrated with the rest: the median norm at which
        # they meet the budget is the norm every shuffle is read at (matched cost, not norm)
        shuffled = [
            dense(*shuffled_vector(data.diffs, signs[k], ladder.sizes[point]), width)
            for k in range(sample)
        ]
        blocks.append(torch.stack([v, -v] + [dense(f, x, width) for f, x in drawn] + shuffled))
        drawn_all.append(drawn)
    vectors = torch.cat(blocks)
    done = [0]

    def on_pass(count: int) -> None:
        done[0] += count
        if share is not None:  # a search measured each vector 2.4 times (429 of 180, SmolLM2)
            share(done[0] / (2.4 * vectors.shape[0]))

    say(f"calibrating {len(blocks)} points ({vectors.shape[0]} vectors) to the budget")
    slopes = cost.slopes(vectors)
    if bend is not None:
        start = quadratic_gammas(vectors, slopes, bend, budget=budget)
    else:  # no curvature to start from: the norm at which the band met the budget
        gamma = float(g[g > 0].mean()) if bool((g > 0).any()) else float(options.start_gamma)
        start = gamma * float(pair[0].norm()) / vectors.norm(dim=1).clamp(min=1e-30)
    found_all, measured_all = calibrate(
        cost, vectors, start, budget=budget, steps=passes, slopes=slopes, on_pass=on_pass
    )
    gammas, costs, null_gammas, null_costs, shuffle_norms = [], [], [], [], []
    sizes = [block.shape[0] for block in blocks]
    per_point = zip(blocks, found_all.split(sizes), measured_all.split(sizes), strict=True)
    for point, (block, found, measured) in enumerate(per_point):
        end = 2 + len(drawn_all[point])
        gammas.append({"affirm": float(found[0]), "oppose": float(found[1])})
        costs.append({"affirm": float(measured[0]), "oppose": float(measured[1])})
        null_gammas.append(found[2:end].clone())
        null_costs.append(measured[2:end].clone())
        met = found[end:] * block[end:].norm(dim=1)
        met = met[found[end:] > 0]
        fallback = (found[0] + found[1]) / 2 * block[0].norm()
        shuffle_norms.append(float(met.median() if met.numel() else fallback))
        label = f"{ladder.labels[point]} ({ladder.sizes[point]} neurons)"
        say(f"calibrated {label}: gamma {float(found[0]):.3g}")
    shuffles = shuffled_reads(
        data.diffs.reshape(data.diffs.shape[0], -1),
        signs,
        ladder.sizes,
        {name: read.gradient for name, read in data.reads.items()},
    )
    return Calibrated(
        data, cost, gammas, costs, drawn_all, null_gammas, null_costs, signs, shuffles,
        shuffle_norms, budget, passes,
    )  # fmt: skip


def point_test(calibrated: Calibrated, point: int, name: str) -> dict[str, float]:
    """A point's linear gap on one instrument and its p against each null."""
    gap = calibrated.edit_gap(point, name)
    return {
        "gap": gap,
        "p_random": prediction_pvalue(gap, calibrated.random_gaps(point, name)),
        "p_shuffle": rank_pvalue(gap, calibrated.shuffle_gaps(point, name)),
    }


def choose_default(calibrated: Calibrated) -> tuple[int, bool]:
    """The dev rule: the sparsest accepted point, else the band (``accepted`` False)."""
    for point in range(len(calibrated.ladder.sizes)):
        test = point_test(calibrated, point, "dev")
        if test["gap"] > 0 and test["p_random"] < DEV_ALPHA and test["p_shuffle"] < DEV_ALPHA:
            return point, True
    return len(calibrated.ladder.sizes) - 1, False


def curve_rows(calibrated: Calibrated) -> list[dict[str, Any]]:
    """One row per ladder point, sparsest first (docs/verdict.md's ``curve``)."""
    ladder = calibrated.ladder
    rows = []
    for point in range(len(ladder.sizes)):
        row: dict[str, Any] = {
            "label": ladder.labels[point],
            "neurons": ladder.sizes[point],
            "fraction": ladder.fractions[point],
            "gamma": calibrated.gammas[point]["affirm"],
            "gammas": calibrated.gammas[point],
            "cost": max(calibrated.costs[point].values()),
            "costs": calibrated.costs[point],
            "random_costs": calibrated.random_costs(point),
        }
        for name in [n for n in calibrated.data.reads if n != "dev"]:
            test = point_test(calibrated, point, name)
            r_low, r_high = np.quantile(calibrated.random_gaps(point, name), [0.025, 0.975])
            s_low, s_high = np.quantile(calibrated.shuffle_gaps(point, name), [0.025, 0.975])
            row[name] = {**test, "random_low": float(r_low), "random_high": float(r_high),
                         "shuffle_low": float(s_low), "shuffle_high": float(s_high)}  # fmt: skip
        dev = point_test(calibrated, point, "dev")
        dev["accepted"] = bool(
            dev["gap"] > 0 and dev["p_random"] < DEV_ALPHA and dev["p_shuffle"] < DEV_ALPHA
        )
        row["dev"] = dev
        rows.append(row)
    return rows


__all__ = [
    "COST_SAMPLE",
    "DEV_ALPHA",
    "Calibrated",
    "DimensionReads",
    "calibrate_ladder",
    "choose_default",
    "control_edit",
    "dense",
    "point_nulls",
    "search_passes",
    "curve_rows",
    "point_test",
]
