"""The main job's verdict: did steering beat its matched random control, per dimension and pole?

Usage:

1. ``verdict = run_verdict(run_dir, lm=lm)`` reads the forced-choice likelihood (the primary
   measure, METHOD.md section 7) on the TEST split of the forced-choice items for every
   dimension the run located, under three methods:

   - ``default``: the configuration the comparison grid chose on the search split
     (:func:`default_config`: the forced-choice search items' affirming and opposing answers
     contrasted, the ``mean-diff`` rule on every ``act`` neuron of a middle band of layers),
     against the same vector permuted within each layer;
   - ``study``: the study's dynamic rule on the run's own located neuron sets, against the
     same rule on random neurons (:func:`~valuelocate.steering.dynamic.random_control_edit`);
   - ``prompt``: a one-sentence persona prefix (no edit, no control), the yardstick.

   Each edit runs at the gamma where the neutral-text cost reaches the budget (bisection on
   the neutral texts only: no test item decides a gamma), and its control at the same gamma.
2. It writes ``RUN_DIR/verdict/verdict.json`` (options, rows), ``verdict.csv`` and
   ``edits.safetensors`` (the default's edit and control vectors per direction at gamma 1),
   which :func:`valuelocate.run_edit` reads back (the files' format:
   :mod:`valuelocate.artifacts.verdict`).

A direction "beats the control" when it moves the reading toward the targeted pole, further
than the control, with a paired permutation p below ``alpha`` (0.01), within the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from valuelocate.architectures import model_shape
from valuelocate.artifacts import load_neuron_sets
from valuelocate.artifacts.verdict import VERDICT_DIR, edit_tensors, write_verdict
from valuelocate.comparison.grid import Config, Grid
from valuelocate.comparison.options import STUDY_CELL, default_band
from valuelocate.comparison.rows import GridRow, write_rows
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.data.neutral import load_neutral_texts
from valuelocate.models import LoadedModel
from valuelocate.optionspec import option
from valuelocate.steering.budget import BudgetSearchOptions
from valuelocate.steering.mean_diff import MeanDiffEdit
from valuelocate.vocab import POLES

METHODS = ("default", "study", "prompt")


def default_config(num_layers: int) -> Config:
    """The default steering configuration: the cell the comparison grid chose on the search
    split (docs/experiment.md): the mean difference of the forced-choice search items'
    affirming and opposing answers, added to every neuron of the middle band."""
    first, last = default_band(num_layers)
    band = tuple(range(first, last + 1))
    return Config("pairs+band+mean-diff", "pairs", "band", "mean-diff", band=band)


def study_config(run_dir: str | Path, v: str = "q95") -> Config:
    """The study's dynamic rule on the run's located neuron sets."""
    return Config(
        STUDY_CELL,
        "generated",
        "located",
        "dynamic",
        params={"v": v},
        run_dir=str(run_dir),
    )


PROMPT_CONFIG = Config("prompt-baseline", "none", "none", "prompt")


@dataclass(frozen=True)
class VerdictOptions(BudgetSearchOptions):
    """The verdict stage's options (``valuelocate run`` passes them through); the budget
    search's (``budget``, ``steps``, ``start_gamma``) are
    :class:`~valuelocate.steering.budget.BudgetSearchOptions`, shared with ``compare``."""

    verdict_items: int = option(20, "Test-split forced-choice items per dimension.", min=2)
    neutral_texts: int = option(8, "Neutral texts of the cost measure.", min=1)
    study_rule: bool = option(True, "Also read the study's dynamic rule on the run's neurons.")

    def validate(self) -> None:
        """Raise ValueError naming the bad option."""
        self.budget_spec()
        if self.verdict_items < 2:
            raise ValueError("--verdict-items must be >= 2")
        if self.neutral_texts < 1 or self.steps < 0 or not self.start_gamma > 0:
            raise ValueError("--neutral-texts >= 1, --steps >= 0 and --start-gamma > 0")


@dataclass(frozen=True)
class VerdictRow:
    """One (method, dimension, pole) line of the verdict."""

    method: str
    row: GridRow
    beats_control: bool


@dataclass
class Verdict:
    """What :func:`run_verdict` measured (also ``RUN_DIR/verdict/verdict.json``)."""

    budget: str
    alpha: float
    rows: list[VerdictRow]
    configs: dict[str, str]

    def wins(self, method: str) -> tuple[int, int]:
        """(directions beating the control, directions measured) of ``method``."""
        mine = [r for r in self.rows if r.method == method]
        return sum(r.beats_control for r in mine), len(mine)

    def to_json(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "alpha": self.alpha,
            "configs": self.configs,
            "rows": [
                {"method": r.method, "beats_control": r.beats_control, **asdict(r.row)}
                for r in self.rows
            ],  # fmt: skip
        }


def run_verdict(
    run_dir: str | Path,
    *,
    lm: LoadedModel,
    options: VerdictOptions | None = None,
    dimensions: Sequence[str] | None = None,
    alpha: float = 0.01,
    progress: Callable[[str], None] | None = None,
) -> Verdict:
    """Measure the verdict on the test split and write ``RUN_DIR/verdict/``.

    Args:
        run_dir: a finished locate run (its neuron sets feed the study's rule).
        lm: the run's model.
        options: :class:`VerdictOptions`.
        dimensions: the dimensions to judge (default: every located one).
        alpha: the p-value a direction must beat.
        progress: told a line of text after each (method, dimension, pole).
    """
    options = options or VerdictOptions()
    options.validate()
    budget = options.budget_spec()
    run_dir = Path(run_dir)
    located = load_neuron_sets(run_dir)
    chosen = list(dimensions or located)
    items = {
        d: sorted(load_forced_choice(dimension=d, split="test"), key=lambda i: i.id)[
            : options.verdict_items
        ]
        for d in chosen
    }
    grid = Grid(
        lm,
        items,
        # The pairs source locates on the SEARCH items only; the verdict reads the test items.
        pairs_items={d: load_forced_choice(dimension=d, split="search") for d in chosen},
        budget=budget.level,
        cost_kind=budget.kind,
        neutral_texts=load_neutral_texts()[: options.neutral_texts],
        start_gamma=options.start_gamma,
        steps=options.steps,
        progress=progress,
    )
    configs = {"default": default_config(model_shape(lm.model).num_layers)}
    if options.study_rule:
        configs["study"] = study_config(run_dir)
    configs["prompt"] = PROMPT_CONFIG
    rows: list[VerdictRow] = []
    tensors: dict[str, Any] = {}
    kind = "band"
    for dimension in chosen:
        for method, config in configs.items():
            for row in grid.run(config, dimension):
                wins = row.beats_control(alpha) and not row.cost > budget.level
                rows.append(VerdictRow(method, row, method != "prompt" and wins))
        for pole in POLES:
            make, make_control, _ = grid.factories(configs["default"], dimension, pole)
            edit, control = make(1.0), make_control(1.0)
            assert isinstance(edit, MeanDiffEdit) and isinstance(control, MeanDiffEdit)
            kind = edit.kind
            tensors.update(edit_tensors(f"{dimension}.{pole}.edit", edit))
            tensors.update(edit_tensors(f"{dimension}.{pole}.control", control))
    verdict = Verdict(str(budget), alpha, rows, {m: c.name for m, c in configs.items()})
    write_rows([r.row for r in rows], run_dir / VERDICT_DIR, name="verdict")
    write_verdict(run_dir, verdict.to_json(), tensors, kind)
    return verdict


__all__ = [
    "METHODS",
    "PROMPT_CONFIG",
    "Verdict",
    "VerdictOptions",
    "VerdictRow",
    "default_config",
    "run_verdict",
    "study_config",
]
