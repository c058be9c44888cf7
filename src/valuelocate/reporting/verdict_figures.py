"""The verdict's two figures (version 2; the schema: docs/verdict.md), drawn from the JSON alone
with matplotlib's object-oriented API:

- :func:`forest_figure`: one row per dimension and instrument, x = the gap between the poles
  in nats: the edit's exact gap with its 95% CI, the random sets' and the label shuffles'
  bands as shaded spans, the word-priming control's and the persona prompt's gaps with their
  CIs, a line at 0; rows whose instrument cannot read the model are greyed and say so;
- :func:`curve_figure`: the sparsity curve, one panel per dimension: the linearised gap of
  each ladder point (log fraction of MLP neurons edited; the last point is the whole band) on
  both instruments, with the random-set and shuffle bands per point, the default point starred
  and the points that beat both nulls filled.

A missing (null) number leaves its mark out; nothing is drawn at a made-up value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator
from matplotlib.typing import LineStyleType

from valuelocate.reporting.figures import grid, mpl_text, style_axes
from valuelocate.reporting.verdict_text import (
    CANNOT_READ,
    INSTRUMENTS,
    beats_both,
    curve_points,
    dimensions,
    instrument_name,
    instruments,
    num,
    obj,
    reading_of,
    reads,
)
from valuelocate.vocab import dimension_label

EDIT = "#1f2d3d"
WORD = "#8e44ad"
PROMPT = "#27ae60"
RANDOM = "#8fb3d9"
SHUFFLE = "#f0b27a"
GREY = "#b8bec4"
GREY_TEXT = "#8a939b"
INSTRUMENT_STYLE: dict[str, tuple[str, str, LineStyleType]] = {
    "forced_choice": ("#1f5fa8", "o", "-"),
    "decision_pairs": ("#c0392b", "s", "--"),
}
OTHER_STYLE: tuple[str, str, LineStyleType] = ("#555555", "^", ":")
# Vertical offsets inside a forest row: the edit on top, word priming, the prompt below.
OFFSETS = {"edit": 0.24, "word": 0.0, "prompt": -0.24}


def _nan(value: Any) -> float:
    x = num(value)
    return math.nan if x is None else x


def _span(ax: Axes, y: float, half: float, low: Any, high: Any, colour: str, alpha: float) -> None:
    """A shaded band from ``low`` to ``high`` (both needed) around row ``y``."""
    lo, hi = num(low), num(high)
    if lo is not None and hi is not None:
        ax.fill_betweenx([y - half, y + half], lo, hi, color=colour, alpha=alpha, linewidth=0)


def _estimate(ax: Axes, y: float, stat: Any, colour: str, marker: str) -> None:
    """A point with its 95% CI as a bar (the bar left out where the CI is missing)."""
    stat = obj(stat)
    mean = num(stat.get("mean"))
    if mean is None:
        return
    low, high = num(stat.get("ci_low")), num(stat.get("ci_high"))
    if low is not None and high is not None:
        ax.plot([low, high], [y, y], color=colour, linewidth=1.8, solid_capstyle="butt")
    ax.plot([mean], [y], marker=marker, color=colour, markersize=7, linestyle="none", zorder=4)


def _forest_legend() -> list[Any]:
    return [
        Line2D([], [], color=EDIT, marker="o", linewidth=1.8, label="edit: gap, 95% CI"),
        Patch(color=RANDOM, alpha=0.45, label="random sets: band"),
        Patch(color=SHUFFLE, alpha=0.55, label="label shuffles: band"),
        Line2D([], [], color=WORD, marker="s", linewidth=1.8, label="word priming: gap, 95% CI"),
        Line2D(
            [], [], color=PROMPT, marker="D", linewidth=1.8, label="persona prompt: gap, 95% CI"
        ),
    ]


def forest_figure(verdict: Mapping[str, Any]) -> Figure:
    """One row per dimension and instrument (see the module docstring)."""
    rows = [(d, k) for d in dimensions(verdict) for k in instruments(verdict)]
    fig = Figure(figsize=(9.0, 0.62 * max(len(rows), 1) + 1.5), layout="constrained")
    ax = fig.subplots()
    style_axes(ax)
    ax.grid(False, axis="y")
    labels, greyed = [], []
    for y, (dimension, key) in enumerate(rows):
        reading = reading_of(dimension, key) or {}
        grey = reads(reading) is False
        label = f"{dimension_label(str(dimension.get('dimension')))} · {instrument_name(key)}"
        labels.append(mpl_text(f"{label}\n({CANNOT_READ})" if grey else label))
        greyed.append(grey)
        if grey:
            ax.axhspan(y - 0.5, y + 0.5, color="#f2f3f4", zorder=0, linewidth=0)
        random, shuffles = obj(reading.get("random_sets")), obj(reading.get("shuffles"))
        _span(ax, y, 0.42, random.get("low"), random.get("high"), GREY if grey else RANDOM, 0.45)
        _span(
            ax, y, 0.3, shuffles.get("low"), shuffles.get("high"), GREY if grey else SHUFFLE, 0.55
        )
        gap = obj(reading.get("edit")).get("gap")
        _estimate(ax, y - OFFSETS["edit"], gap, GREY if grey else EDIT, "o")
        word = obj(reading.get("word_priming")).get("gap")
        _estimate(ax, y - OFFSETS["word"], word, GREY if grey else WORD, "s")
        prompt = obj(reading.get("prompt")).get("gap")
        _estimate(ax, y - OFFSETS["prompt"], prompt, GREY if grey else PROMPT, "D")
        if y and dimension is not rows[y - 1][0]:
            ax.axhline(y - 0.5, color="#999999", linewidth=0.8)
    ax.axvline(0.0, color="#222222", linewidth=1.0, zorder=3)
    ax.set_yticks(range(len(rows)), labels)
    for tick, grey in zip(ax.get_yticklabels(), greyed, strict=True):
        if grey:
            tick.set_color(GREY_TEXT)
    ax.set_ylim(max(len(rows), 1) - 0.5, -0.5)  # the first dimension on top
    ax.set_xlabel("gap between the poles (nats; > 0 is the right way)")
    fig.legend(handles=_forest_legend(), loc="outside lower center", ncols=3, frameon=False)
    return fig


def _curve_panel(ax: Axes, dimension: Mapping[str, Any], keys: Sequence[str], alpha: float) -> None:
    points = [p for p in curve_points(dimension) if (num(p.get("fraction")) or 0.0) > 0]
    x = [float(p["fraction"]) for p in points]
    for key in keys:
        colour, marker, style = INSTRUMENT_STYLE.get(key, OTHER_STYLE)
        grey = reads(reading_of(dimension, key)) is False
        colour = GREY if grey else colour
        read = [obj(p.get(key)) for p in points]
        band = {k: [_nan(r.get(k)) for r in read] for k in
                ("random_low", "random_high", "shuffle_low", "shuffle_high")}  # fmt: skip
        if key == INSTRUMENTS[0]:  # forced choice: filled bands, the wider shuffles' first
            for name, fill, shade in (("shuffle", SHUFFLE, 0.4), ("random", RANDOM, 0.55)):
                ax.fill_between(x, band[f"{name}_low"], band[f"{name}_high"], linewidth=0,
                                color=GREY if grey else fill, alpha=shade)  # fmt: skip
        else:  # the other instrument: hatched bands in its own colour
            for name, hatch in (("random", "////"), ("shuffle", "\\\\\\\\")):
                ax.fill_between(x, band[f"{name}_low"], band[f"{name}_high"], facecolor="none",
                                edgecolor=colour, hatch=hatch, linewidth=0, alpha=0.45)  # fmt: skip
        gaps = [_nan(r.get("gap")) for r in read]
        ax.plot(x, gaps, color=colour, linestyle=style, linewidth=1.6, zorder=3)
        for xi, gi, won in zip(x, gaps, (beats_both(r, alpha) for r in read), strict=True):
            ax.plot([xi], [gi], marker=marker, markersize=6, color=colour, zorder=4,
                    markerfacecolor=colour if won else "white")  # fmt: skip
    default = obj(dimension.get("default"))
    chosen = next((p for p in points if p.get("label") == default.get("label")), None)
    if chosen is not None:
        xd = float(chosen["fraction"])
        ax.axvline(xd, color="#555555", linestyle=":", linewidth=1.0)
        yd = num(obj(chosen.get(INSTRUMENTS[0])).get("gap"))
        if yd is not None:
            ax.plot([xd], [yd], marker="*", markersize=15, color="#f0b429",
                    markeredgecolor="#222222", zorder=5, linestyle="none")  # fmt: skip
    if x:
        ax.axhline(0.0, color="#222222", linewidth=0.9)
        ax.set_xscale("log")
        ax.set_xticks(x, [mpl_text(str(p.get("label"))) for p in points])
        ax.xaxis.set_minor_locator(NullLocator())
    else:
        # a dimension the verdict did not measure (no instrument reads the model on it)
        why = (
            "not measured: no instrument\nreads this model"
            if dimension.get("measured") is False
            else "no curve in the file"
        )
        ax.text(0.5, 0.5, why, transform=ax.transAxes, ha="center", color=GREY_TEXT)
        ax.set_xticks([])  # no axis, no zero line: an empty panel must not read as a zero
        ax.set_yticks([])
    ax.set_title(mpl_text(dimension_label(str(dimension.get("dimension")))), fontsize=11)


def _curve_legend(keys: Sequence[str]) -> list[Any]:
    handles: list[Any] = []
    for key in keys:
        colour, marker, style = INSTRUMENT_STYLE.get(key, OTHER_STYLE)
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                marker=marker,
                linestyle=style,
                label=f"{instrument_name(key)} (filled: beats both nulls)",
            )
        )
    handles += [
        Patch(color=RANDOM, alpha=0.5, label="random sets of the same size: band"),
        Patch(color=SHUFFLE, alpha=0.5, label="label shuffles: band"),
    ]
    for key in keys[1:]:
        colour = INSTRUMENT_STYLE[key][0]
        handles.append(Patch(facecolor="none", edgecolor=colour, hatch="////",
                             label=f"{instrument_name(key)}: the same bands"))  # fmt: skip
    return handles + [
        Line2D(
            [],
            [],
            color="#f0b429",
            marker="*",
            markersize=12,
            markeredgecolor="#222222",
            linestyle="none",
            label="the default point",
        ),  # fmt: skip
    ]


def curve_figure(verdict: Mapping[str, Any]) -> Figure:
    """The sparsity curve, one panel per dimension, two panels a row (see the module
    docstring)."""
    dims = dimensions(verdict)
    keys = [k for k in instruments(verdict) if k in INSTRUMENT_STYLE] or list(INSTRUMENTS)
    alpha = num(verdict.get("alpha")) or 0.01
    fig, axes = grid(max(len(dims), 1), 10.0, 3.3, xlabel="fraction of MLP neurons edited")
    for i, (ax, dimension) in enumerate(zip(axes, dims, strict=False)):
        style_axes(ax)
        _curve_panel(ax, dimension, keys, alpha)
        if i % 2 == 0:
            ax.set_ylabel("linearised gap (nats)")
    fig.legend(handles=_curve_legend(keys), loc="outside lower center", ncols=3, frameon=False)
    return fig
