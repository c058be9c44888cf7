"""The report's section about ``valuelocate compare``: the grid of steering methods as a plot.

Per dimension, each cell's shift toward the targeted pole (nats of the forced-choice
likelihood reading, positive = the right way) with its 95% CI, for both poles, and its matched
control's shift beside it: a method works where its point clears zero *and* its control.

Usage: ``compare_section(rows)`` with the rows of ``grid.json`` (list of dicts), or
``compare_section_from_dir(run_dir / "compare")``, which also reads the dev-split verdict and
the chosen cell when they exist.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from valuelocate.artifacts import read_json
from valuelocate.reporting.figures import (
    POLE_COLOURS,
    dimension_label,
    esc,
    figure_html,
    fmt,
    fmt_gamma,
    grid,
    html_table,
    mpl_text,
    section,
    style_axes,
)

Row = Mapping[str, Any]
ALPHA = 0.01  # the comparison's choosing rule's level (valuelocate.comparison.run)
_OFFSET = {"affirm": -0.2, "oppose": 0.14}  # edit point; its control sits 0.08 below it


def _num(row: Row, key: str) -> float:
    value = row.get(key)
    return math.nan if value is None else float(value)


def _sign(row: Row) -> float:
    return 1.0 if row.get("pole") == "affirm" else -1.0


def toward(row: Row, key: str = "shift") -> float:
    """A shift (``shift``, ``ci_low``, ``ci_high`` or ``control_shift``) signed toward the
    row's targeted pole."""
    return _sign(row) * _num(row, key)


def _beats(row: Row) -> bool:
    p = _num(row, "p_control")
    return toward(row) > 0 and toward(row) > toward(row, "control_shift") and p < ALPHA


def _draw(ax: Axes, rows: Sequence[Row], cells: Sequence[str]) -> None:
    """One dimension: a line per cell, an edit point and a hollow control point per pole."""
    for row in rows:
        pole = str(row.get("pole"))
        y = cells.index(str(row["config"])) + _OFFSET.get(pole, 0.0)
        colour = POLE_COLOURS.get(pole, "#555555")
        low, high = sorted((toward(row, "ci_low"), toward(row, "ci_high")))
        centre = toward(row)
        if not math.isnan(low):
            ax.errorbar(centre, y, xerr=[[centre - low], [high - centre]], fmt="o", color=colour,
                        markersize=4, capsize=2, linewidth=1.2)  # fmt: skip
        else:
            ax.plot(centre, y, "o", color=colour, markersize=4)
        control = toward(row, "control_shift")
        if not math.isnan(control):
            ax.plot(control, y + 0.08, "o", markerfacecolor="white", markeredgecolor=colour,
                    markersize=4)  # fmt: skip
        if _beats(row):
            ax.text(max(high, centre), y, " *", va="center", color=colour, fontsize=9)
    ax.axvline(0.0, color="#222222", linewidth=0.8)
    ax.set_yticks(range(len(cells)))
    ax.set_yticklabels([mpl_text(c) for c in cells], fontsize=8)
    ax.set_ylim(len(cells) - 0.5, -0.5)
    style_axes(ax)


def grid_figure(rows: Sequence[Row]) -> Figure | None:
    """One panel per dimension: shift toward each pole per cell, CI bars, control beside it."""
    dims = list(dict.fromkeys(str(r["dimension"]) for r in rows))
    if not dims:
        return None
    cells = list(dict.fromkeys(str(r["config"]) for r in rows))
    fig, axes = grid(len(dims), 10.0, 0.45 * len(cells) + 1.2,
                     xlabel="shift toward the targeted pole (nats)", sharey=True)  # fmt: skip
    for ax, dim in zip(axes, dims, strict=True):
        _draw(ax, [r for r in rows if r["dimension"] == dim], cells)
        ax.set_title(mpl_text(dimension_label(dim)), fontsize=10)
    handles = [
        axes[0].plot([], [], "o", color=POLE_COLOURS["affirm"], label="toward affirm")[0],
        axes[0].plot([], [], "o", color=POLE_COLOURS["oppose"], label="toward oppose")[0],
        axes[0].plot(
            [],
            [],
            "o",
            markerfacecolor="white",
            markeredgecolor="#555555",
            label="its matched control",
        )[0],  # fmt: skip
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False, fontsize=8)
    return fig


def rows_table(rows: Sequence[Row]) -> str:
    """Every row: gamma, cost, shift toward the pole with CI, control, p, wrong way."""
    body = []
    for r in rows:
        low, high = sorted((toward(r, "ci_low"), toward(r, "ci_high")))
        body.append(
            [
                esc(r.get("config")),
                esc(dimension_label(str(r.get("dimension")))),
                esc(r.get("pole")),
                esc(fmt_gamma(None if math.isnan(_num(r, "gamma")) else _num(r, "gamma"))),
                fmt(_num(r, "cost")),
                fmt(toward(r), sign=True),
                f"[{fmt(low, sign=True)}, {fmt(high, sign=True)}]",
                fmt(toward(r, "control_shift"), sign=True),
                fmt(_num(r, "p_control"), 4),
                fmt(_num(r, "wrong_way"), 2),
                fmt(_num(r, "selectivity"), sign=True),
                esc(r.get("neurons", "")),
            ]
        )
    header = ["cell", "dimension", "pole", "gamma", "cost", "toward pole", "95% CI", "control",
              "p vs control", "wrong way", "selectivity", "neurons"]  # fmt: skip
    return html_table(header, body, 3)


def compare_section(
    rows: Sequence[Row],
    *,
    verdict: Sequence[Row] = (),
    chosen: str | None = None,
    budget: str | None = None,
) -> str:
    """The ``compare`` section: the grid's plot and table (search split), then the chosen
    cell's dev-split verdict when there is one.

    Args:
        rows: the rows of ``grid.json``.
        verdict: the rows of ``verdict.json`` (the chosen cell on the dev split).
        chosen: the chosen cell's name (``compare.json``).
        budget: the damage budget, e.g. ``ppl=1.1``, for the text.
    """
    at = f" at the damage budget {esc(budget)}" if budget else " at matched cost"
    intro = (
        f"<p>Steering methods compared{at} on the forced-choice likelihood reading (search "
        "split): each cell's shift toward the targeted pole with its 95% CI (filled) and its "
        "matched control's shift at the same gamma (hollow); * marks a direction that beats "
        f"its control at p &lt; {ALPHA}. The prompt baseline has no control.</p>"
    )
    fig = grid_figure(rows)
    parts = [intro]
    if fig is not None:
        parts.append(figure_html(fig, "shift toward the pole per cell and direction"))
    parts.append(rows_table(rows))
    if chosen:
        parts.append(f"<p>Chosen on the search split: <strong>{esc(chosen)}</strong>.</p>")
    if verdict:
        parts.append("<h3>Dev split verdict (the chosen cell, read once)</h3>")
        parts.append(rows_table(verdict))
    return section("compare", "Steering methods at matched cost", "".join(parts))


def compare_section_from_dir(folder: str | Path) -> str | None:
    """:func:`compare_section` from a ``valuelocate compare`` output folder, or ``None``
    when it holds no ``grid.json``."""
    path = Path(folder)
    if not (path / "grid.json").is_file():
        return None
    rows = read_json(path / "grid.json")
    verdict: list[Row] = []
    if (path / "verdict.json").is_file():
        verdict = read_json(path / "verdict.json")
    record: dict[str, Any] = {}
    if (path / "compare.json").is_file():
        record = read_json(path / "compare.json")
    return compare_section(
        rows, verdict=verdict, chosen=record.get("chosen"), budget=record.get("budget")
    )


__all__ = ["compare_section", "compare_section_from_dir", "grid_figure", "toward"]
