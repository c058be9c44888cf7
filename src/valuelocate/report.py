"""``valuelocate report RUN_DIR``: one self-contained HTML page that shows what a run found.

The report reads the run directory's JSON artifacts and writes ``RUN_DIR/report.html``:

1. :func:`load_run` reads ``summary.json`` (required), ``manifest.json``, ``neurons.json`` and
   ``evaluation/results.json`` (each optional) into a :class:`RunData`.
2. One function per section turns it into HTML; plots are drawn with matplotlib's
   object-oriented API (no pyplot, so no global figure state) and embedded as base64 PNG.
3. :func:`write_report` assembles the page and writes it atomically.

The page loads nothing from anywhere: no external CSS, scripts or fonts, and a
Content-Security-Policy that forbids them, so it opens offline and mailed as one file. Every
string that comes from data (answers are model output) goes through :func:`html.escape`.

Example:
    >>> write_report(Path("runs/smollm2"))
    PosixPath('runs/smollm2/report.html')
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import typer
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from valuelocate.artifacts import ArtifactError, atomic_write, read_json
from valuelocate.evaluate import CONDITIONS, RESULTS_FORMAT, Example, LeakageRow, ScoreRow

REPORT_NAME = "report.html"
RESULTS_PATH = Path("evaluation") / "results.json"

# Display names of Schwartz's higher-order dimensions; unknown ids are title-cased.
_DIMENSION_LABELS: dict[str, str] = {
    "openness_to_change": "Openness to Change",
    "conservation": "Conservation",
    "self_transcendence": "Self-Transcendence",
    "self_enhancement": "Self-Enhancement",
}
# Conditions in the order they are drawn and listed, with their colour and line style.
_CONDITION_STYLE: dict[str, tuple[str, str]] = {
    "none": ("#222222", "--"),
    "affirm": ("#1f5fa8", "-"),
    "oppose": ("#c0392b", "-"),
    "random_affirm": ("#7d93a6", "-"),
    "random_oppose": ("#a6897d", "-"),
    "prompt_affirm": ("#5dade2", "-."),
    "prompt_oppose": ("#f1948a", "-."),
}
_POLE_COLOURS: dict[str, str] = {"affirm": "#1f5fa8", "oppose": "#c0392b"}
_DPI = 150  # PNG resolution; images are shown at 100 px per inch, so they stay sharp on HiDPI.


# --------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Evaluation:
    """The contents of ``evaluation/results.json`` (schema: :mod:`valuelocate.evaluate`)."""

    rows: tuple[ScoreRow, ...]
    leakage: tuple[LeakageRow, ...] = ()
    examples: tuple[Example, ...] = ()
    judges: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    def measures(self) -> list[str]:
        """The measures present, in first-seen order."""
        return list(dict.fromkeys(row.measure for row in self.rows))

    def select(self, **where: Any) -> list[ScoreRow]:
        """The score rows whose fields equal every ``field=value`` given."""
        return [r for r in self.rows if all(getattr(r, k) == v for k, v in where.items())]


@dataclass(frozen=True)
class RunData:
    """Everything the report shows, read from one run directory."""

    run_dir: Path
    summary: Mapping[str, Any]
    manifest: Mapping[str, Any] | None = None
    neurons: Mapping[str, Any] | None = None
    evaluation: Evaluation | None = None
    notes: tuple[str, ...] = ()

    @property
    def dimensions(self) -> list[str]:
        """Dimension ids in the order the locating run wrote them."""
        return list(self.summary.get("dimensions", {}))


_T = TypeVar("_T")


def _from_json(cls: type[_T], raw: Any, *, figures: tuple[str, ...] = ()) -> _T:
    """Build dataclass ``cls`` from a JSON object, ignoring keys it does not know.

    ``figures`` are float fields that the writer turns from NaN into null; they become NaN.
    """
    if not isinstance(raw, Mapping):
        raise TypeError(f"expected an object, got {type(raw).__name__}")
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in raw.items() if k in names}
    for name in figures:
        if name in values and values[name] is None:
            values[name] = math.nan
    return cls(**values)


def parse_evaluation(data: Any, *, source: Path) -> Evaluation:
    """Read ``results.json`` as written by :mod:`valuelocate.evaluate`.

    Raises:
        ArtifactError: not an evaluation result, or an entry lacks a required field.
    """
    if not isinstance(data, Mapping) or data.get("format") != RESULTS_FORMAT:
        raise ArtifactError(f"{source} is not a ValueLocate evaluation result")
    try:
        rows = tuple(
            _from_json(ScoreRow, r, figures=("mean", "ci_low", "ci_high"))
            for r in data.get("scores", [])
        )
        leakage = tuple(
            _from_json(LeakageRow, r, figures=("shift", "ci_low", "ci_high"))
            for r in data.get("leakage", [])
        )
        examples = tuple(_from_json(Example, e) for e in data.get("examples", []))
    except TypeError as exc:
        raise ArtifactError(f"{source} has a malformed entry: {exc}") from exc
    judges = data.get("judges") or {}
    options = data.get("options") or {}
    return Evaluation(rows, leakage, examples, judges, options)


def load_run(run_dir: Path) -> RunData:
    """Read a run directory's artifacts; only ``summary.json`` is required.

    Raises:
        ArtifactError: the directory or its ``summary.json`` is missing or corrupt.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ArtifactError(f"{run_dir} is not a run directory (it does not exist)")
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise ArtifactError(
            f"{summary_path} does not exist: run `valuelocate locate` into {run_dir} first"
        )
    summary = read_json(summary_path)
    if not isinstance(summary, Mapping) or "dimensions" not in summary:
        raise ArtifactError(f"{summary_path} is not a locating summary (no 'dimensions')")
    notes: list[str] = []
    manifest = _read_optional(run_dir, "manifest.json", notes)
    neurons = _read_optional(run_dir, "neurons.json", notes)
    raw_results = _read_optional(run_dir, RESULTS_PATH, notes)
    evaluation = None
    if raw_results is not None:
        evaluation = parse_evaluation(raw_results, source=run_dir / RESULTS_PATH)
    return RunData(run_dir, summary, manifest, neurons, evaluation, tuple(notes))


def _read_optional(run_dir: Path, name: Path | str, notes: list[str]) -> Any:
    """The JSON at ``run_dir / name``, or None when it is absent (noted for the footer)."""
    path = run_dir / name
    if not path.is_file():
        notes.append(str(name))
        return None
    return read_json(path)


# --------------------------------------------------------------------------------------------
# Small helpers


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def dimension_label(dimension: str | None) -> str:
    """``"self_enhancement"`` -> ``"Self-Enhancement"``; unknown ids are title-cased."""
    if dimension is None:
        return "(none)"
    return _DIMENSION_LABELS.get(dimension, dimension.replace("_", " ").title())


def _mpl_text(text: str) -> str:
    """Text for matplotlib: a ``$`` from data must not switch on mathtext."""
    return text.replace("$", r"\$")


def _fmt(value: float | None, digits: int = 3, *, sign: bool = False) -> str:
    """A number for a table; missing (None or NaN) is a dash."""
    if value is None or math.isnan(value):
        return "–"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _fmt_gamma(gamma: float | None) -> str:
    return "–" if gamma is None else f"{gamma:g}"


def _png_width(data: bytes) -> int:
    """Pixel width read from a PNG's IHDR chunk."""
    return int(struct.unpack(">I", data[16:20])[0])


def _figure_html(fig: Figure, alt: str) -> str:
    """Render ``fig`` as an embedded PNG inside a ``<figure>``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight", metadata={"Software": None})
    data = buf.getvalue()
    width = round(_png_width(data) * 100 / _DPI)
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{encoded}" width="{width}" '
        f'alt="{_esc(alt)}"></figure>'
    )


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric_from: int = 1) -> str:
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


def _section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{section_id}"><h2>{_esc(title)}</h2>{body}</section>'


def _grid(
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


def _style_axes(ax: Axes) -> None:
    ax.grid(True, color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


# --------------------------------------------------------------------------------------------
# Locating sections


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
                    _esc(dimension_label(dim)),
                    _esc(pole),
                    f"{int(info['count']):,}",
                    f"{float(info['percent']):.2f}%",
                    f"{share_upper:.0f}%",
                ]
            )
    table = _table(["dimension", "pole", "neurons", "% of all", "in upper half of layers"], rows, 2)
    intro = (
        f"<p>Of {int(summary.get('total_neurons', 0)):,} MLP neurons "
        f"({num_layers} layers &times; {int(summary.get('neurons_per_layer', 0)):,}), "
        "the share that the selection kept for each dimension and pole.</p>"
    )
    return _section(
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
            color=_POLE_COLOURS[pole],
        )
        ax.bar_label(bars, fmt="%.2f%%", fontsize=8, padding=2)
    ax.set_xticks(range(len(dims)), [_mpl_text(dimension_label(d)) for d in dims])
    ax.set_ylabel("% of all neurons")
    ax.margins(y=0.15)
    ax.legend(frameon=False, ncol=2, loc="lower right", bbox_to_anchor=(1.0, 1.0))
    _style_axes(ax)
    return _figure_html(fig, "Bar chart of the percentage of neurons per dimension and pole")


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
                        _esc(dimension_label(dim)),
                        _esc(pole),
                        _esc(neuron.get("layer")),
                        _esc(neuron.get("index")),
                        _fmt(neuron.get("d")),
                        _fmt(neuron.get("p")),
                        _fmt(neuron.get("q95")),
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
    method = f"<p>Selection: <code>{_esc('; '.join(methods))}</code></p>" if methods else ""
    table = _table(["dimension", "pole", "layer", "index", "d", "p", "q95"], rows, 2)
    return f"<details><summary>Top neurons of each set</summary>{method}{table}</details>"


def layers_section(run: RunData) -> str:
    """Where the neurons sit: the share of each layer's neurons selected, per dimension."""
    dims = run.dimensions
    if not dims:
        body = '<p class="note">The summary holds no dimension.</p>'
        return _section("layers", "Layer profile of the neurons", body)
    per_layer_total = max(int(run.summary.get("neurons_per_layer", 0)), 1)
    fig, axes = _grid(len(dims), 8.5, 2.4, xlabel="layer", sharex=True, sharey=True)
    for ax, dim in zip(axes, dims, strict=True):
        for pole, info in run.summary["dimensions"][dim].items():
            counts = list(info.get("per_layer", []))
            ax.plot(
                range(len(counts)),
                [100.0 * c / per_layer_total for c in counts],
                marker="o",
                markersize=3,
                color=_POLE_COLOURS.get(pole, "#555555"),
                label=pole,
            )
        ax.set_title(_mpl_text(dimension_label(dim)), fontsize=10)
        _style_axes(ax)
    for ax in axes[::2]:
        ax.set_ylabel("% of the layer")
    axes[0].legend(frameon=False, fontsize=8)
    intro = (
        "<p>The percentage of each layer's neurons that belong to a dimension's set. "
        "The study found value neurons mostly in the upper half of the layers.</p>"
    )
    figure = _figure_html(fig, "Line plots of selected neurons per layer, one per dimension")
    return _section("layers", "Layer profile of the neurons", intro + figure)


def overlap_section(run: RunData) -> str:
    """Jaccard overlap between every pair of neuron sets (dimension.pole)."""
    matrix = run.summary.get("overlap", {}).get("all", {})
    keys = list(matrix)
    if not keys:
        return _section("overlap", "Overlap of the neuron sets", "<p>No overlap recorded.</p>")
    # The diagonal (a set with itself, always 1) is left blank so that the colour scale
    # spans the overlaps that say something.
    values = [[math.nan if a == b else float(matrix[a].get(b, 0.0)) for b in keys] for a in keys]
    top = max((v for row in values for v in row if not math.isnan(v)), default=0.0)
    labels = [_mpl_text(_set_label(k)) for k in keys]
    size = max(4.0, 0.55 * len(keys) + 1.2)
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=max(top, 0.05))
    _annotate(ax, values, "{:.2f}", threshold=0.6 * max(top, 0.05))
    ax.set_xticks(range(len(keys)), labels, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(keys)), labels, fontsize=8)
    fig.colorbar(image, ax=ax, label="Jaccard index", shrink=0.8)
    intro = (
        "<p>Jaccard index |A&cap;B| / |A&cup;B| between the neuron sets. "
        "Opposed dimensions (Openness vs Conservation, Self-Transcendence vs "
        "Self-Enhancement) may share neurons across poles. The diagonal (1) is left "
        "blank.</p>"
    )
    figure = _figure_html(fig, "Heatmap of the Jaccard overlap between neuron sets")
    return _section("overlap", "Overlap of the neuron sets", intro + figure)


def _set_label(key: str) -> str:
    dim, _, pole = key.rpartition(".")
    return f"{dimension_label(dim)} · {pole}" if dim else key


def _annotate(
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


def _condition_order(condition: str) -> int:
    order: tuple[str, ...] = CONDITIONS
    return order.index(condition) if condition in order else len(order)


def _draw_condition(
    ax: Axes, condition: str, rows: Sequence[ScoreRow], span: tuple[float, float]
) -> None:
    """One condition's mean and CI band; a condition without gamma is a horizontal line."""
    colour, style = _CONDITION_STYLE.get(condition, ("#8e44ad", "-"))
    swept = sorted((r for r in rows if r.gamma is not None), key=lambda r: r.gamma or 0.0)
    if swept:
        x = [r.gamma or 0.0 for r in swept]
        points = swept
    else:  # none, prompt_*: independent of gamma, drawn across the sweep
        x = list(span)
        points = [rows[0], rows[0]]
    ax.plot(x, [r.mean for r in points], style, color=colour, label=condition, linewidth=1.6)
    if swept:
        ax.plot(x, [r.mean for r in points], "o", color=colour, markersize=2.5)
    lows, highs = [r.ci_low for r in points], [r.ci_high for r in points]
    ax.fill_between(x, lows, highs, color=colour, alpha=0.12, linewidth=0)


def _panel_rows(
    evaluation: Evaluation, measure: str, dim: str, scored: str | None
) -> dict[str, list[ScoreRow]]:
    """Rows of one panel (steering ``dim``) by condition, in drawing order.

    ``scored`` keeps only the rows about that dimension (None: keep all, for cost measures).
    """
    by_condition: dict[str, list[ScoreRow]] = {}
    for row in evaluation.select(measure=measure, steered_dimension=dim):
        if scored is None or row.scored_dimension == scored:
            by_condition.setdefault(row.condition, []).append(row)
    return dict(sorted(by_condition.items(), key=lambda item: _condition_order(item[0])))


def _curves_figure(
    evaluation: Evaluation, measure: str, dims: Sequence[str], *, ylabel: str, own_dimension: bool
) -> Figure | None:
    """One panel per steered dimension: ``measure`` vs gamma under every condition."""
    panels = [
        (dim, _panel_rows(evaluation, measure, dim, dim if own_dimension else None)) for dim in dims
    ]
    panels = [(d, p) for d, p in panels if p]
    if not panels:
        return None
    gammas = [r.gamma for r in evaluation.rows if r.gamma is not None]
    span = (min(gammas), max(gammas)) if gammas else (0.0, 1.0)
    fig, axes = _grid(len(panels), 9.0, 2.9, xlabel="gamma", sharex=True)
    for ax, (dim, by_condition) in zip(axes, panels, strict=True):
        for condition, rows in by_condition.items():
            _draw_condition(ax, condition, rows, span)
        ax.set_title(_mpl_text(f"steering {dimension_label(dim)}"), fontsize=10)
        ax.set_ylabel(_mpl_text(ylabel))
        _style_axes(ax)
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="outside lower center",
        ncol=min(len(handles), 7),
        frameon=False,
        fontsize=8,
    )
    return fig


def reference_gamma(gammas: Iterable[float | None]) -> float | None:
    """gamma 1, or the largest gamma <= 1 present (else the smallest); None if there is none."""
    present = sorted({g for g in gammas if g is not None})
    if not present:
        return None
    below = [g for g in present if g <= 1.0 + 1e-9]
    return below[-1] if below else present[0]


def _at_gamma(rows: Sequence[ScoreRow], gamma: float) -> ScoreRow | None:
    """The row at ``gamma``; a row without gamma (none, prompt_*) stands for every gamma."""
    for row in rows:
        if row.gamma is None or math.isclose(row.gamma, gamma):
            return row
    return None


def _scores_table(evaluation: Evaluation, measure: str, dims: Sequence[str], gamma: float) -> str:
    """The steered dimension's score at ``gamma`` per condition, with CI and test vs random."""
    rows = []
    for dim in dims:
        for condition, cond_rows in _panel_rows(evaluation, measure, dim, dim).items():
            row = _at_gamma(cond_rows, gamma)
            if row is None:
                continue
            rows.append(
                [
                    _esc(dimension_label(dim)),
                    _esc(condition),
                    _esc(_fmt_gamma(row.gamma)),
                    _fmt(row.mean),
                    f"[{_fmt(row.ci_low)}, {_fmt(row.ci_high)}]",
                    _esc(row.n) + (f" (&minus;{row.n_excluded})" if row.n_excluded else ""),
                    _fmt(row.diff_vs_random, 3),
                    _fmt(row.p_vs_random, 4),
                ]
            )
    header = ["steered", "condition", "gamma", "mean", "95% CI", "n", "diff vs random", "p"]
    return _table(header, rows, 2)


def _judge_note(evaluation: Evaluation, name: str) -> str:
    """Totals of a judge's samples: valid ratings, malformed outputs, gibberish."""
    info = evaluation.judges.get(name)
    if not isinstance(info, Mapping):
        return ""
    parts = [f"{k}: {info[k]}" for k in ("kind", "samples", "ratings", "malformed", "gibberish")]
    return f'<p class="small">{_esc(" · ".join(p for p in parts if not p.endswith("None")))}</p>'


def dose_response_section(run: RunData, evaluation: Evaluation) -> str:
    """Questionnaire (and each judge's) score of the steered dimension vs gamma."""
    dims = _eval_dimensions(run, evaluation)
    measures = [m for m in evaluation.measures() if m == "questionnaire" or m.startswith("judge:")]
    parts = [
        "<p>Score of the steered dimension as gamma grows, with 95% bootstrap confidence "
        "bands. Steering toward the affirming pole should raise it and toward the opposing "
        "pole lower it, beyond the random-neuron control; the prompt baseline (flat lines) "
        "shows what asking for the value in words achieves.</p>"
    ]
    for measure in measures:
        judge = measure.partition(":")[2]
        title = f"Judge: {judge}" if judge else "Questionnaire"
        ylabel = "rating (1-5)" if judge else "centred PVQ score"
        fig = _curves_figure(evaluation, measure, dims, ylabel=ylabel, own_dimension=True)
        if fig is None:
            continue
        parts.append(f"<h3>{_esc(title)}</h3>")
        parts.append(_judge_note(evaluation, judge) if judge else "")
        parts.append(_figure_html(fig, f"Dose-response curves of {measure} vs gamma"))
        gamma = reference_gamma(r.gamma for r in evaluation.select(measure=measure))
        if gamma is not None:
            parts.append(
                f"<details><summary>Scores at gamma = {_esc(_fmt_gamma(gamma))}</summary>"
                f"{_scores_table(evaluation, measure, dims, gamma)}</details>"
            )
    if len(parts) == 1:
        parts.append('<p class="note">The evaluation holds no questionnaire or judge scores.</p>')
    return _section("dose-response", "Dose-response curves", "".join(parts))


def _eval_dimensions(run: RunData, evaluation: Evaluation) -> list[str]:
    """Steered dimensions: the run's order first, then any other the evaluation names."""
    seen = list(dict.fromkeys(r.steered_dimension for r in evaluation.rows))
    return [d for d in run.dimensions if d in seen] + [d for d in seen if d not in run.dimensions]


def cost_section(run: RunData, evaluation: Evaluation) -> str:
    """Perplexity ratio and share of degenerate answers vs gamma."""
    dims = _eval_dimensions(run, evaluation)
    parts = [
        "<p>What the edit costs: the perplexity of neutral text under the edit divided by "
        "the unedited model's (1 = no cost), and the share of degenerate answers "
        "(repetition, few distinct n-grams). Steering that breaks the model is not "
        "steering.</p>"
    ]
    for measure, title, ylabel in (
        ("perplexity_ratio", "Perplexity ratio", "perplexity / unedited"),
        ("degenerate_share", "Degenerate answers", "share of answers"),
    ):
        fig = _curves_figure(evaluation, measure, dims, ylabel=ylabel, own_dimension=False)
        if fig is not None:
            parts.append(f"<h3>{_esc(title)}</h3>")
            parts.append(_figure_html(fig, f"{title} vs gamma"))
    if len(parts) == 1:
        parts.append('<p class="note">The evaluation measured no perplexity.</p>')
    return _section("perplexity", "Perplexity cost", "".join(parts))


def leakage_matrix(
    evaluation: Evaluation, dims: Sequence[str], *, condition: str = "affirm", gamma: float
) -> list[list[LeakageRow | None]]:
    """The leakage rows as a matrix: steered dimension (rows) x scored dimension (columns)."""
    index = {
        (r.steered_dimension, r.scored_dimension): r
        for r in evaluation.leakage
        if r.condition == condition and math.isclose(r.gamma, gamma)
    }
    return [[index.get((steered, scored)) for scored in dims] for steered in dims]


def leakage_section(run: RunData, evaluation: Evaluation) -> str:
    """4x4 heatmap: steering a dimension toward affirm shifts every dimension's score."""
    dims = _eval_dimensions(run, evaluation)
    gamma = reference_gamma(r.gamma for r in evaluation.leakage if r.condition == "affirm")
    if gamma is None or not dims:
        body = '<p class="note">The evaluation holds no leakage under affirm steering.</p>'
        return _section("leakage", "Leakage between dimensions", body)
    matrix = leakage_matrix(evaluation, dims, gamma=gamma)
    values = [[math.nan if r is None else r.shift for r in row] for row in matrix]
    limit = max((abs(v) for row in values for v in row if not math.isnan(v)), default=0.0) or 1.0
    labels = [_mpl_text(dimension_label(d)) for d in dims]
    fig = Figure(figsize=(6.6, 4.8), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit)
    _annotate(ax, values, "{:+.3f}", threshold=0.6 * limit, signed=True)
    ax.set_xticks(range(len(dims)), labels, rotation=25, ha="right", fontsize=9)
    ax.set_yticks(range(len(dims)), labels, fontsize=9)
    ax.set_xlabel("scored dimension (shift vs unedited)")
    ax.set_ylabel("steered toward affirm")
    fig.colorbar(image, ax=ax, label="questionnaire score shift", shrink=0.85)
    intro = (
        f"<p>Rows: the dimension steered toward its affirming pole at gamma = "
        f"{_esc(_fmt_gamma(gamma))}. Columns: the shift of each dimension's questionnaire "
        "score from the unedited model's. The diagonal is the intended effect; Schwartz's "
        "circle predicts that the opposed dimension moves the other way.</p>"
    )
    rows = [
        [
            _esc(dimension_label(r.steered_dimension)),
            _esc(dimension_label(r.scored_dimension)),
            _fmt(r.shift, sign=True),
            f"[{_fmt(r.ci_low, sign=True)}, {_fmt(r.ci_high, sign=True)}]",
            _esc(r.n),
        ]
        for row in matrix
        for r in row
        if r is not None
    ]
    table = _table(["steered", "scored", "shift", "95% CI", "n"], rows, 2)
    details = f"<details><summary>Shifts with confidence intervals</summary>{table}</details>"
    figure = _figure_html(fig, "Heatmap of questionnaire score shifts across dimensions")
    return _section("leakage", "Leakage between dimensions", intro + figure + details)


def examples_section(run: RunData, evaluation: Evaluation, *, per_dimension: int = 2) -> str:
    """Answers to the same prompt, unedited and steered at the reference gamma, side by side.

    Args:
        per_dimension: prompts shown per steered dimension.
    """
    if not evaluation.examples:
        body = '<p class="note">The evaluation kept no example answers.</p>'
        return _section("examples", "Example answers", body)
    gamma = reference_gamma(e.gamma for e in evaluation.examples)
    groups: dict[tuple[str, str], list[Example]] = {}
    for example in evaluation.examples:
        groups.setdefault((example.steered_dimension, example.prompt_id), []).append(example)
    shown: dict[str, int] = {}
    cards = []
    for (dim, _), examples in groups.items():
        chosen = _side_by_side(examples, gamma)
        if shown.get(dim, 0) >= per_dimension or len(chosen) < 2:
            continue
        shown[dim] = shown.get(dim, 0) + 1
        answers = "".join(_answer_html(e) for e in chosen)
        cards.append(
            f'<article class="example"><p class="steer">steering {_esc(dimension_label(dim))}'
            f'</p><blockquote class="prompt">{_esc(examples[0].prompt)}</blockquote>'
            f'<div class="answers">{answers}</div></article>'
        )
    if not cards:
        body = '<p class="note">No example has both an unedited and a steered answer.</p>'
        return _section("examples", "Example answers", body)
    intro = (
        f"<p>Answers to the same test prompt: unedited, and steered toward each pole at "
        f"gamma = {_esc(_fmt_gamma(gamma))}.</p>"
    )
    return _section("examples", "Example answers", intro + "".join(cards))


def _side_by_side(examples: Sequence[Example], gamma: float | None) -> list[Example]:
    """The unedited answer, then the affirm and oppose answers at ``gamma``."""
    chosen = [e for e in examples if e.condition == "none"][:1]
    for condition in ("affirm", "oppose"):
        match = [
            e
            for e in examples
            if e.condition == condition
            and e.gamma is not None
            and gamma is not None
            and math.isclose(e.gamma, gamma)
        ]
        chosen += match[:1]
    return chosen


def _answer_html(example: Example) -> str:
    label = "unedited" if example.condition == "none" else f"toward {example.condition}"
    flag = ' <span class="flag">degenerate</span>' if example.degenerate else ""
    return (
        f'<div class="answer {_esc(example.condition)}"><h4>{_esc(label)}{flag}</h4>'
        f'<div class="text">{_esc(example.answer)}</div></div>'
    )


def missing_evaluation_section(run: RunData) -> str:
    """What to do when ``evaluation/results.json`` does not exist yet."""
    body = (
        "<p class=note>Evaluation has not been run: there is no "
        f"<code>{_esc(run.run_dir / RESULTS_PATH)}</code>. Run "
        f"<code>valuelocate evaluate {_esc(run.run_dir)}</code> to add dose-response curves, "
        "the perplexity cost, leakage and example answers to this report.</p>"
    )
    return _section("evaluation", "Evaluation", body)


def details_section(run: RunData) -> str:
    """Model, options, library versions and the command that made the run."""
    manifest = run.manifest or {}
    model = manifest.get("model", {}) if isinstance(manifest.get("model"), Mapping) else {}
    facts = [
        ("model", model.get("id", manifest.get("model"))),
        ("source", model.get("source")),
        ("revision", model.get("revision")),
        ("family", model.get("family")),
        ("status", manifest.get("status")),
        ("seed", manifest.get("seed")),
        ("dataset hash", (manifest.get("dataset") or {}).get("hash")),
        ("versions", _versions_line(manifest.get("versions"))),
        ("command", manifest.get("command")),
    ]
    items = "".join(
        f"<dt>{_esc(k)}</dt><dd><code>{_esc(v)}</code></dd>"
        for k, v in facts
        if v not in (None, "")
    )
    blocks = [f"<dl>{items}</dl>" if items else ""]
    evaluation_options = run.evaluation.options if run.evaluation else None
    for value, title in (
        (manifest.get("options"), "Locating options"),
        (evaluation_options, "Evaluation options"),
    ):
        if value:
            pretty = json.dumps(value, indent=2, sort_keys=True, default=str)
            blocks.append(f"<details><summary>{title}</summary><pre>{_esc(pretty)}</pre></details>")
    if run.notes:
        blocks.append(f'<p class="small">Not found: {_esc(", ".join(run.notes))}.</p>')
    return f'<footer id="details"><h2>Run details</h2>{"".join(blocks)}</footer>'


# --------------------------------------------------------------------------------------------
# Page

_CSS = """
:root { color-scheme: light; --fg: #1d232a; --muted: #5b6670; --line: #dde3e8;
  --bg: #ffffff; --panel: #f6f8fa; --affirm: #1f5fa8; --oppose: #c0392b; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 1.5rem 1.25rem 3rem; }
header h1 { margin: 0 0 .25rem; font-size: 1.9rem; line-height: 1.2; }
header .sub { margin: 0; color: var(--muted); }
nav { margin: 1rem 0 0; padding: .6rem 0; border-top: 1px solid var(--line);
  border-bottom: 1px solid var(--line); display: flex; flex-wrap: wrap; gap: .25rem 1.1rem;
  font-size: .92rem; }
nav a { color: var(--affirm); text-decoration: none; }
nav a:hover { text-decoration: underline; }
section, footer { margin-top: 2.2rem; }
h2 { font-size: 1.35rem; margin: 0 0 .6rem; padding-bottom: .25rem;
  border-bottom: 2px solid var(--line); }
h3 { font-size: 1.08rem; margin: 1.4rem 0 .4rem; }
p { margin: .5rem 0; max-width: 75ch; }
figure { margin: 1rem 0; }
img { display: block; max-width: 100%; height: auto; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .9rem; margin: .6rem 0; }
th, td { padding: .3rem .7rem; border-bottom: 1px solid var(--line); text-align: left;
  white-space: nowrap; }
th { background: var(--panel); font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
details { margin: .6rem 0; }
summary { cursor: pointer; color: var(--muted); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: .86rem; }
pre { background: var(--panel); padding: .75rem; overflow-x: auto; border-radius: 6px; }
.note { background: #fff8e1; border-left: 4px solid #f0b429; padding: .6rem .8rem;
  max-width: none; }
.example { border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem;
  margin: 1rem 0; }
.example .steer { margin: 0 0 .3rem; font-size: .85rem; color: var(--muted);
  text-transform: uppercase; letter-spacing: .04em; }
.prompt { margin: 0 0 .8rem; padding: .2rem 0 .2rem .8rem; border-left: 3px solid var(--line);
  font-style: italic; white-space: pre-wrap; overflow-wrap: anywhere; }
.answers { display: grid; grid-template-columns: repeat(auto-fit, minmax(240px, 1fr));
  gap: .8rem; }
.answer { background: var(--panel); border-radius: 6px; padding: .6rem .75rem;
  border-top: 3px solid #888; }
.answer.affirm { border-top-color: var(--affirm); }
.answer.oppose { border-top-color: var(--oppose); }
.answer h4 { margin: 0 0 .35rem; font-size: .85rem; color: var(--muted); }
.answer .text { white-space: pre-wrap; overflow-wrap: anywhere; font-size: .92rem;
  max-height: 22rem; overflow-y: auto; }
.small { font-size: .88rem; color: var(--muted); }
.flag { margin-left: .4rem; padding: 0 .35rem; border-radius: 4px; background: #fdecea;
  color: var(--oppose); font-weight: 600; font-size: .75rem; }
footer { color: var(--muted); font-size: .92rem; border-top: 1px solid var(--line);
  padding-top: 1rem; }
footer h2 { border: 0; color: var(--fg); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
@media (max-width: 600px) { body { font-size: 15px; } main { padding: 1rem .75rem; }
  dl { grid-template-columns: 1fr; } }
"""

# Nothing may be fetched: inline styles and data: images only, no scripts at all.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def render_report(run: RunData) -> str:
    """The whole report page as an HTML string."""
    sections = [sparsity_section(run), layers_section(run), overlap_section(run)]
    nav = [
        ("sparsity", "Sparsity"),
        ("layers", "Layer profile"),
        ("overlap", "Overlap"),
    ]
    if run.evaluation is None:
        sections.append(missing_evaluation_section(run))
        nav.append(("evaluation", "Evaluation"))
    else:
        sections += [
            dose_response_section(run, run.evaluation),
            cost_section(run, run.evaluation),
            leakage_section(run, run.evaluation),
            examples_section(run, run.evaluation),
        ]
        nav += [
            ("dose-response", "Dose-response"),
            ("perplexity", "Perplexity cost"),
            ("leakage", "Leakage"),
            ("examples", "Examples"),
        ]
    nav.append(("details", "Run details"))
    links = "".join(f'<a href="#{i}">{_esc(t)}</a>' for i, t in nav)
    model = _model_id(run)
    subtitle = f"{model} · {run.run_dir.name}" if model else run.run_dir.name
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>ValueLocate report · {_esc(subtitle)}</title><style>{_CSS}</style></head>"
        f"<body><main><header><h1>ValueLocate report</h1>"
        f'<p class="sub">{_esc(subtitle)}</p><nav>{links}</nav></header>'
        f"{''.join(sections)}{details_section(run)}</main></body></html>\n"
    )


def _versions_line(versions: Any) -> str | None:
    """``{"torch": "2.4"}`` -> ``"torch 2.4"``, joined with middle dots."""
    if not isinstance(versions, Mapping) or not versions:
        return None
    return " · ".join(f"{name} {version}" for name, version in versions.items())


def _model_id(run: RunData) -> str:
    model = (run.manifest or {}).get("model")
    if isinstance(model, Mapping):
        return str(model.get("id") or "")
    return str(model or "")


def write_report(run_dir: Path) -> Path:
    """Write ``RUN_DIR/report.html`` (atomically) from the run's artifacts.

    Args:
        run_dir: a run directory written by ``valuelocate locate`` (and maybe ``evaluate``).

    Returns:
        The path of the report.

    Raises:
        ArtifactError: the directory or its ``summary.json`` is missing or corrupt.

    Example:
        >>> write_report(Path("runs/smollm2")).name
        'report.html'
    """
    run = load_run(Path(run_dir))
    page = render_report(run)
    path = run.run_dir / REPORT_NAME

    def write(tmp: Path) -> None:
        tmp.write_text(page, encoding="utf-8")

    atomic_write(path, write)
    return path


def report_command(
    run_dir: Path = typer.Argument(
        ..., help="Run directory written by `valuelocate locate` (and `evaluate`)."
    ),
) -> None:
    """Write RUN_DIR/report.html: one self-contained page with every plot and table."""
    typer.echo(str(write_report(run_dir)))
