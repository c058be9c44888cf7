"""Drawing helpers of the report: HTML escaping and tables, number formats, and matplotlib
figures embedded as base64 PNG (object-oriented API, no pyplot global state)."""

from __future__ import annotations

import base64
import html
import io
import math
import struct
from collections.abc import Iterable, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from valuelocate.vocab import dimension_label

__all__ = ["dimension_label"]

# Conditions in the order they are drawn and listed, with their colour and line style.
CONDITION_STYLE: dict[str, tuple[str, str]] = {
    "none": ("#222222", "--"),
    "affirm": ("#1f5fa8", "-"),
    "oppose": ("#c0392b", "-"),
    "random_affirm": ("#7d93a6", "-"),
    "random_oppose": ("#a6897d", "-"),
    "prompt_affirm": ("#5dade2", "-."),
    "prompt_oppose": ("#f1948a", "-."),
}
POLE_COLOURS: dict[str, str] = {"affirm": "#1f5fa8", "oppose": "#c0392b"}
DPI = 150  # PNG resolution; images are shown at 100 px per inch, so they stay sharp on HiDPI.


# --------------------------------------------------------------------------------------------
# Data


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def mpl_text(text: str) -> str:
    """Text for matplotlib: a ``$`` from data must not switch on mathtext."""
    return text.replace("$", r"\$")


def fmt(value: float | None, digits: int = 3, *, sign: bool = False) -> str:
    """A number for a table; missing (None or NaN) is a dash."""
    if value is None or math.isnan(value):
        return "–"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def fmt_gamma(gamma: float | None) -> str:
    return "–" if gamma is None else f"{gamma:g}"


def png_width(data: bytes) -> int:
    """Pixel width read from a PNG's IHDR chunk."""
    return int(struct.unpack(">I", data[16:20])[0])


def figure_html(fig: Figure, alt: str) -> str:
    """Render ``fig`` as an embedded PNG inside a ``<figure>``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    data = buf.getvalue()
    width = round(png_width(data) * 100 / DPI)
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{encoded}" width="{width}" '
        f'alt="{esc(alt)}"></figure>'
    )


def html_table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric_from: int = 1) -> str:
    """An HTML table of already-escaped cells; columns from ``numeric_from`` on are numbers."""
    head = "".join(
        f"<th{' class=num' if i >= numeric_from else ''}>{h}</th>" for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if i >= numeric_from else ''}>{c}</td>" for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{section_id}"><h2>{esc(title)}</h2>{body}</section>'


def grid(
    count: int, width: float, height: float, *, xlabel: str, **kwargs: Any
) -> tuple[Figure, list[Axes]]:
    """A figure with ``count`` panels, two per row; the x label under the bottom ones only."""
    cols = 1 if count == 1 else 2
    rows = math.ceil(count / cols)
    fig = Figure(figsize=(width, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, **kwargs).ravel().tolist()
    for ax in axes[count:]:
        ax.set_visible(False)
    for ax in axes[max(count - cols, 0) : count]:
        ax.set_xlabel(xlabel)
    return fig, axes[:count]


def style_axes(ax: Axes) -> None:
    ax.grid(True, color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


# --------------------------------------------------------------------------------------------
# Locating sections


def set_label(key: str) -> str:
    dim, _, pole = key.rpartition(".")
    return f"{dimension_label(dim)} · {pole}" if dim else key


def annotate(
    ax: Axes, values: Sequence[Sequence[float]], fmt: str, *, threshold: float, signed: bool = False
) -> None:
    """Write each cell's value on a heatmap, white on dark cells."""
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            if math.isnan(value):
                continue
            dark = abs(value) >= threshold if signed else value >= threshold
            ax.text(
                j,
                i,
                fmt.format(value),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "#222222",
            )


# --------------------------------------------------------------------------------------------
# Evaluation sections
