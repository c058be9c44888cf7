"""The report's sections about the neuron sets: sparsity, layers and overlap."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from matplotlib.figure import Figure

from valuelocate.reporting.figures import (
    POLE_COLOURS,
    annotate,
    dimension_label,
    esc,
    figure_html,
    fmt,
    grid,
    html_table,
    mpl_text,
    section,
    set_label,
    style_axes,
)
from valuelocate.reporting.load import RunData


def sparsity_section(run: RunData) -> str:
    """Table and bar chart of the share of neurons selected per dimension and pole."""
    summary = run.summary
    num_layers = int(summary.get("num_layers", 0))
    half = num_layers // 2
    rows = []
    for dim, poles in summary["dimensions"].items():
        for pole, info in poles.items():
            per_layer = list(info.get("per_layer", []))
            upper = sum(per_layer[half:])
            share_upper = 100.0 * upper / info["count"] if info["count"] else 0.0
            rows.append(
                [
                    esc(dimension_label(dim)),
                    esc(pole),
                    f"{int(info['count']):,}",
                    f"{float(info['percent']):.2f}%",
                    f"{share_upper:.0f}%",
                ]
            )
    table = html_table(
        ["dimension", "pole", "neurons", "% of all", "in upper half of layers"], rows, 2
    )
    intro = (
        f"<p>Of {int(summary.get('total_neurons', 0)):,} MLP neurons "
        f"({num_layers} layers &times; {int(summary.get('neurons_per_layer', 0)):,}), "
        "the share that the selection kept for each dimension and pole.</p>"
    )
    return section(
        "sparsity",
        "Sparsity per dimension and pole",
        intro + _sparsity_chart(run) + table + _top_neurons(run),
    )


def _sparsity_chart(run: RunData) -> str:
    dims = run.dimensions
    if not dims:
        return ""
    fig = Figure(figsize=(8.5, 3.2), layout="constrained")
    ax = fig.subplots()
    width = 0.38
    for offset, pole in ((-width / 2, "affirm"), (width / 2, "oppose")):
        values = [float(run.summary["dimensions"][d].get(pole, {}).get("percent", 0)) for d in dims]
        bars = ax.bar(
            [i + offset for i in range(len(dims))],
            values,
            width,
            label=pole,
            color=POLE_COLOURS[pole],
        )
        ax.bar_label(bars, fmt="%.2f%%", fontsize=8, padding=2)
    ax.set_xticks(range(len(dims)), [mpl_text(dimension_label(d)) for d in dims])
    ax.set_ylabel("% of all neurons")
    ax.margins(y=0.15)
    ax.legend(frameon=False, ncol=2, loc="lower right", bbox_to_anchor=(1.0, 1.0))
    style_axes(ax)
    return figure_html(fig, "Bar chart of the percentage of neurons per dimension and pole")


def _top_neurons(run: RunData) -> str:
    """The strongest neurons of each set, from ``neurons.json``, folded away by default."""
    if not run.neurons:
        return ""
    rows = []
    for dim, entry in run.neurons.items():
        if not isinstance(entry, Mapping):
            continue
        for pole in ("affirm", "oppose"):
            for neuron in (entry.get(pole) or {}).get("top", [])[:5]:
                rows.append(
                    [
                        esc(dimension_label(dim)),
                        esc(pole),
                        esc(neuron.get("layer")),
                        esc(neuron.get("index")),
                        fmt(neuron.get("d")),
                        fmt(neuron.get("p")),
                        fmt(neuron.get("q95")),
                    ]
                )
    if not rows:
        return ""
    methods = sorted(
        {
            f"{e.get('method')} {json.dumps(e.get('params', {}), sort_keys=True)}"
            for e in run.neurons.values()
            if isinstance(e, Mapping) and "method" in e
        }
    )
    method = f"<p>Selection: <code>{esc('; '.join(methods))}</code></p>" if methods else ""
    table = html_table(["dimension", "pole", "layer", "index", "d", "p", "q95"], rows, 2)
    return f"<details><summary>Top neurons of each set</summary>{method}{table}</details>"


def layers_section(run: RunData) -> str:
    """Where the neurons sit: the share of each layer's neurons selected, per dimension."""
    dims = run.dimensions
    if not dims:
        body = '<p class="note">The summary holds no dimension.</p>'
        return section("layers", "Layer profile of the neurons", body)
    per_layer_total = max(int(run.summary.get("neurons_per_layer", 0)), 1)
    fig, axes = grid(len(dims), 8.5, 2.4, xlabel="layer", sharex=True, sharey=True)
    for ax, dim in zip(axes, dims, strict=True):
        for pole, info in run.summary["dimensions"][dim].items():
            counts = list(info.get("per_layer", []))
            ax.plot(
                range(len(counts)),
                [100.0 * c / per_layer_total for c in counts],
                marker="o",
                markersize=3,
                color=POLE_COLOURS.get(pole, "#555555"),
                label=pole,
            )
        ax.set_title(mpl_text(dimension_label(dim)), fontsize=10)
        style_axes(ax)
    for ax in axes[::2]:
        ax.set_ylabel("% of the layer")
    axes[0].legend(frameon=False, fontsize=8)
    intro = (
        "<p>The percentage of each layer's neurons that belong to a dimension's set. "
        "The study found value neurons mostly in the upper half of the layers.</p>"
    )
    figure = figure_html(fig, "Line plots of selected neurons per layer, one per dimension")
    return section("layers", "Layer profile of the neurons", intro + figure)


def overlap_section(run: RunData) -> str:
    """Jaccard overlap between every pair of neuron sets (dimension.pole)."""
    matrix = run.summary.get("overlap", {}).get("all", {})
    keys = list(matrix)
    if not keys:
        return section("overlap", "Overlap of the neuron sets", "<p>No overlap recorded.</p>")
    # The diagonal (a set with itself, always 1) is left blank so that the colour scale
    # spans the overlaps that say something.
    values = [[math.nan if a == b else float(matrix[a].get(b, 0.0)) for b in keys] for a in keys]
    top = max((v for row in values for v in row if not math.isnan(v)), default=0.0)
    labels = [mpl_text(set_label(k)) for k in keys]
    size = max(4.0, 0.55 * len(keys) + 1.2)
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=max(top, 0.05))
    annotate(ax, values, "{:.2f}", threshold=0.6 * max(top, 0.05))
    ax.set_xticks(range(len(keys)), labels, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(keys)), labels, fontsize=8)
    fig.colorbar(image, ax=ax, label="Jaccard index", shrink=0.8)
    intro = (
        "<p>Jaccard index |A&cap;B| / |A&cup;B| between the neuron sets. "
        "Opposed dimensions (Openness vs Conservation, Self-Transcendence vs "
        "Self-Enhancement) may share neurons across poles. The diagonal (1) is left "
        "blank.</p>"
    )
    figure = figure_html(fig, "Heatmap of the Jaccard overlap between neuron sets")
    return section("overlap", "Overlap of the neuron sets", intro + figure)
