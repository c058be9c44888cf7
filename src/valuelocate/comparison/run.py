"""``valuelocate compare``: run the grid of steering methods at matched cost, choose on the
search split, verify the choice once on the dev split.

Usage:

    >>> options = CompareOptions(dimensions=("conservation",), items_per_dimension=20)
    >>> result = compare(options, "runs/compare")
    >>> result.chosen, [r.p_control for r in result.verdict]

Every cell (:func:`~valuelocate.comparison.options.standard_cells`) is run on the
forced-choice likelihood reading of the SEARCH split, each edit at the gamma where the neutral
cost reaches the budget, against its matched control at the same gamma. ``grid.json`` and
``grid.csv`` are rewritten after each cell, so an interrupted run keeps the cells it finished.
The cell is then chosen by a rule fixed in advance (:func:`~valuelocate.comparison.rows.score`:
most directions beating the control at p < 0.01 within budget, then the larger mean shift toward
the targeted pole; the prompt baseline is a reference, never chosen), and only that cell is read
on the DEV split, at the gammas found on the search split (the cost does not depend on the
items), into ``verdict.json``/``verdict.csv``. Reading the dev split once, for one cell, is
what keeps its p-values honest. (The dev split is what was the test split until it had been
read many times while choosing the main job's default; the new ``test`` split is the main
job's held-out verdict alone, :mod:`valuelocate.comparison.verdict`, and ``compare`` never
reads it. The options keep their names: ``test_items``, ``skip_test`` and ``also_test``
(``--test-items`` ...) count and skip the dev-split reading.)

Files in the output folder: ``grid.json``/``.csv`` (search rows), ``verdict.json``/``.csv``
(dev rows of the chosen cell), ``compare.json`` (options, ranking, the chosen cell; its
``test_read`` says whether the dev split was read) and ``summary.md``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from valuelocate.architectures import model_shape
from valuelocate.comparison.forced_choice import direction, summarize_shift
from valuelocate.comparison.grid import Config, Grid
from valuelocate.comparison.options import CONTROL_CELLS, PROMPT_CELL, CompareOptions
from valuelocate.comparison.rows import GridRow, score, write_rows
from valuelocate.data.forced_choice import ForcedChoiceItem, load_forced_choice
from valuelocate.data.neutral import load_neutral_texts
from valuelocate.models import LoadedModel, load_model
from valuelocate.steering.budget import Budget
from valuelocate.vocab import DIMENSIONS, POLES, Progress

ALPHA = 0.01  # the significance level of the choosing rule, fixed before any result


@dataclass(frozen=True)
class Ranked:
    """One cell's place in the choosing rule: directions beating the control at p < 0.01
    within budget, and the mean shift toward the targeted pole (nats)."""

    cell: str
    wins: int
    mean_toward: float


@dataclass
class CompareResult:
    """What :func:`compare` measured and wrote.

    Attributes:
        out_dir: the output folder.
        options: the options it ran with.
        budget: the parsed budget.
        rows: search-split rows, one per (cell, dimension, pole), in the order run.
        verdict: dev-split rows of the chosen cell, then of the ``also_test`` cells (empty
            with ``skip_test`` or no choice).
        ranking: the cells that can be chosen, best first (the prompt baseline is not one).
        chosen: the chosen cell's name, or ``None``.
        not_run: cells left out because the ``minutes`` limit was spent.
        seconds: wall time.
    """

    out_dir: Path
    options: CompareOptions
    budget: Budget
    rows: list[GridRow] = field(default_factory=list)
    verdict: list[GridRow] = field(default_factory=list)
    ranking: list[Ranked] = field(default_factory=list)
    chosen: str | None = None
    not_run: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def record(self) -> dict[str, Any]:
        """The ``compare.json`` record."""
        return {
            "options": self.options.to_json(),
            "budget": str(self.budget),
            "cells_run": list(dict.fromkeys(r.config for r in self.rows)),
            "not_run": self.not_run,
            "ranking": [asdict(r) for r in self.ranking],
            "chosen": self.chosen,
            "test_read": bool(self.verdict),
            "seconds": round(self.seconds, 1),
        }


def _items(dimension: str, split: str, count: int) -> list[ForcedChoiceItem]:
    """The first ``count`` items of a split, by id (the same items on every run)."""
    items = load_forced_choice(dimension=dimension, split=split)
    return sorted(items, key=lambda i: i.id)[:count]


def _held_out_pairs(
    dimension: str, scored: Sequence[ForcedChoiceItem], cells: Sequence[Config]
) -> list[ForcedChoiceItem]:
    """The search items the ``pairs`` source locates on: those the grid does not score, so
    that a pairs cell is not chosen on the very items it was built from."""
    ids = {i.id for i in scored}
    rest = [i for i in load_forced_choice(dimension=dimension, split="search") if i.id not in ids]
    if len(rest) < 4 and any(c.contrast == "pairs" for c in cells):
        raise ValueError(
            f"--items-per-dimension {len(scored)} leaves {len(rest)} search items of "
            f"{dimension} for the pairs source to locate on (it needs 4, unscored); lower it"
        )
    return rest


def rank(rows: Sequence[GridRow], *, budget: float) -> list[Ranked]:
    """The cells of ``rows`` that can be chosen, best first by
    :func:`~valuelocate.comparison.rows.score` (ties keep the run order)."""
    cells = [
        c for c in dict.fromkeys(r.config for r in rows)
        if c != PROMPT_CELL and c not in CONTROL_CELLS
    ]  # fmt: skip
    ranked = []
    for cell in cells:
        wins, mean = score([r for r in rows if r.config == cell], alpha=ALPHA, budget=budget)
        ranked.append(Ranked(cell, wins, mean))
    return sorted(
        ranked, key=lambda r: (r.wins, -math.inf if math.isnan(r.mean_toward) else r.mean_toward),
        reverse=True,
    )  # fmt: skip


def compare(
    options: CompareOptions,
    out_dir: str | Path,
    *,
    lm: LoadedModel | None = None,
    progress: Progress | None = None,
    device: str | None = None,
) -> CompareResult:
    """Run the comparison grid, choose a cell on the search split, read it on the dev split.

    Args:
        options: what to run (validated first, before the model is loaded).
        out_dir: the output folder (created).
        lm: an already loaded model (else ``options.model`` is loaded on ``device``).
        progress: called as ``progress(text, done, total)`` after each step.
        device: where to load the model (``cpu``, ``cuda``; auto when ``None``).

    Raises:
        ValueError: a bad option, named by its flag (before any forward pass).
    """
    options.validate()
    budget = options.budget_spec()
    began = time.monotonic()
    report: Progress = progress or (lambda _text, _done, _total: None)
    if lm is None:
        report(f"loading {options.model}", 0, 0)
        lm = load_model(options.model, device=device)
    cells = options.cells_for(model_shape(lm.model).num_layers)
    dimensions = list(options.dimensions or DIMENSIONS)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    result = CompareResult(folder, options, budget)
    _write_record(result)
    torch.manual_seed(options.seed)

    tests = 0 if options.skip_test else 1 + len(options.also_test or ())
    steps = len(cells) * len(dimensions) + tests * len(dimensions)
    done = [0]
    scored = {d: _items(d, "search", options.items_per_dimension) for d in dimensions}
    grid = Grid(
        lm,
        scored,
        budget=budget.level,
        cost_kind=budget.kind,
        pairs_items={d: _held_out_pairs(d, scored[d], cells) for d in dimensions},
        neutral_texts=load_neutral_texts()[: options.neutral_texts],
        start_gamma=options.start_gamma,
        steps=options.steps,
        seed=options.seed,
        chat_template=options.chat_template,
        progress=lambda line: report(line, done[0], steps),
    )
    report("unedited readings done", 0, steps)
    deadline = began + 60 * options.minutes if options.minutes > 0 else math.inf
    for position, config in enumerate(cells):
        if time.monotonic() > deadline:
            result.not_run = [c.name for c in cells[position:]]
            report(f"time limit spent: {', '.join(result.not_run)} not run", done[0], steps)
            break
        for dimension in dimensions:
            result.rows.extend(grid.run(config, dimension, selectivity=options.selectivity))
            done[0] += 1
            report(f"{config.name} {dimension} done", done[0], steps)
        write_rows(result.rows, folder, name="grid")
        result.seconds = time.monotonic() - began
        _write_record(result)

    result.ranking = rank(result.rows, budget=budget.level)
    result.chosen = result.ranking[0].cell if result.ranking else None
    if result.chosen is not None and not options.skip_test:
        # The chosen cell first, then any cell asked for side by side that ran on the search
        # split (at the gammas its search rows found; none of them can change the choice).
        ran = {r.config for r in result.rows}
        names = [result.chosen, *(c for c in options.also_test or () if c in ran)]
        for name in dict.fromkeys(names):
            config = next(c for c in cells if c.name == name)
            result.verdict += _verdict(grid, config, result.rows, dimensions, options,
                                       lambda text: report(text, done[0], steps), done)  # fmt: skip
        write_rows(result.verdict, folder, name="verdict")
    result.seconds = time.monotonic() - began
    _write_record(result)
    (folder / "summary.md").write_text(summary_markdown(result), encoding="utf-8")
    report("done", steps, steps)
    return result


def _verdict(
    grid: Grid,
    chosen: Config,
    rows: Sequence[GridRow],
    dimensions: Sequence[str],
    options: CompareOptions,
    report: Callable[[str], None],
    done: list[int],
) -> list[GridRow]:
    """The chosen cell on the dev split, at the gammas of the search rows, once."""
    test = {d: _items(d, "dev", options.test_items) for d in dimensions}
    base = {d: grid.read(items).numpy() for d, items in test.items()}
    verdict = []
    for dimension in dimensions:
        for pole in POLES:
            began = time.monotonic()
            searched = next(
                r for r in rows if (r.config, r.dimension, r.pole) == (chosen.name, dimension, pole)
            )
            make, make_control, _ = grid.factories(chosen, dimension, pole)
            edit = make(searched.gamma)
            edited = grid.read(test[dimension], edit=edit).numpy()
            control = grid.read(test[dimension], edit=make_control(searched.gamma)).numpy()
            shift = summarize_shift(
                edited - base[dimension],
                toward=pole,
                control=control - base[dimension],
                seed=options.seed,
            )
            selectivity = math.nan
            others = [d for d in dimensions if d != dimension]
            if options.selectivity and others:
                moved = [
                    abs(float(np.mean(grid.read(test[o], edit=edit).numpy() - base[o])))
                    for o in others
                ]
                selectivity = direction(pole) * shift.shift - float(np.mean(moved))
            # The cost is the search row's: the same edit at the same gamma on the same texts.
            verdict.append(
                GridRow(
                    **{
                        **asdict(searched),
                        **asdict(shift),
                        "selectivity": selectivity,
                        "seconds": time.monotonic() - began,
                    }
                )  # fmt: skip
            )
            report(
                f"DEV {chosen.name} {dimension}.{pole}: shift {shift.shift:+.4f} "
                f"[{shift.ci_low:+.4f}, {shift.ci_high:+.4f}] control "
                f"{shift.control_shift:+.4f} p {shift.p_control:.2g}"
            )
        done[0] += 1
    return verdict


def _write_record(result: CompareResult) -> None:
    (result.out_dir / "compare.json").write_text(
        json.dumps(result.record(), indent=1, allow_nan=True), encoding="utf-8"
    )


def _num(value: float, spec: str) -> str:
    return "–" if math.isnan(value) else format(value, spec)


def rows_table(rows: Sequence[GridRow], *, cost: str = "ppl") -> str:
    """A markdown table of grid rows (shift in nats; "oppose" is pushed toward negative)."""
    head = (
        f"| cell | dimension | pole | gamma | {cost} | shift (nats) | 95% CI | wrong way | "
        "control shift | p vs control | selectivity | neurons |\n"
        "|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|\n"
    )
    lines = [
        f"| {r.config} | {r.dimension} | {r.pole} | {_num(r.gamma, '.3g')} | "
        f"{_num(r.cost, '.3f')} | {r.shift:+.4f} | [{r.ci_low:+.4f}, {r.ci_high:+.4f}] | "
        f"{r.wrong_way:.2f} | {_num(r.control_shift, '+.4f')} | {_num(r.p_control, '.2g')} | "
        f"{_num(r.selectivity, '+.4f')} | {r.neurons} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def summary_markdown(result: CompareResult) -> str:
    """``summary.md``: the options, the ranking, the chosen cell, the search and dev tables."""
    options = result.options
    directions = 2 * len(options.dimensions or DIMENSIONS)
    lines = [
        f"# Steering comparison on {options.model} (budget {result.budget})\n",
        f"Search split: {options.items_per_dimension} items per dimension; "
        f"wall time {result.seconds:.0f} s.\n",
        f"Options: `{json.dumps(options.to_json())}`\n",
        f"Choosing rule (fixed in advance): most directions beating the control at p < {ALPHA} "
        "within budget, then the larger mean shift toward the targeted pole.\n",
    ]
    for ranked in result.ranking:
        lines.append(
            f"- {ranked.cell}: {ranked.wins}/{directions} directions beat the control; "
            f"mean shift toward the pole {ranked.mean_toward:+.4f}"
        )
    if result.not_run:
        lines.append(f"\nNot run (time limit): {', '.join(result.not_run)}\n")
    lines.append("\n## Search split\n")
    lines.append(rows_table(result.rows, cost=result.budget.kind))
    if result.verdict:
        wins = sum(r.beats_control(ALPHA) and not r.cost > result.budget.level
                   for r in result.verdict)  # fmt: skip
        lines.append(
            f"\n## Dev split verdict: {result.chosen} ({wins}/{directions} directions beat "
            f"the control at p < {ALPHA} within budget)\n"
        )
        lines.append(rows_table(result.verdict, cost=result.budget.kind))
    elif result.chosen is not None:
        lines.append(f"\nChosen: {result.chosen} (dev split not read)\n")
    return "\n".join(lines)


__all__ = ["CompareOptions", "CompareResult", "Ranked", "compare", "rank", "summary_markdown"]
