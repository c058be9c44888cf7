"""The report's sections about steering: dose-response, cost, leakage and example answers."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from valuelocate.evaluation.results import CONDITIONS, Example, LeakageRow, ScoreRow
from valuelocate.reporting.figures import (
    CONDITION_STYLE,
    annotate,
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
from valuelocate.reporting.load import Evaluation, RunData


def condition_order(condition: str) -> int:
    order: tuple[str, ...] = CONDITIONS
    return order.index(condition) if condition in order else len(order)


def _draw_condition(
    ax: Axes, condition: str, rows: Sequence[ScoreRow], span: tuple[float, float]
) -> None:
    """One condition's mean and CI band; a condition without gamma is a horizontal line."""
    colour, style = CONDITION_STYLE.get(condition, ("#8e44ad", "-"))
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
    return dict(sorted(by_condition.items(), key=lambda item: condition_order(item[0])))


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
    fig, axes = grid(len(panels), 9.0, 2.9, xlabel="gamma", sharex=True)
    for ax, (dim, by_condition) in zip(axes, panels, strict=True):
        for condition, rows in by_condition.items():
            _draw_condition(ax, condition, rows, span)
        ax.set_title(mpl_text(f"steering {dimension_label(dim)}"), fontsize=10)
        ax.set_ylabel(mpl_text(ylabel))
        style_axes(ax)
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
                    esc(dimension_label(dim)),
                    esc(condition),
                    esc(fmt_gamma(row.gamma)),
                    fmt(row.mean),
                    f"[{fmt(row.ci_low)}, {fmt(row.ci_high)}]",
                    esc(row.n) + (f" (&minus;{row.n_excluded})" if row.n_excluded else ""),
                    fmt(row.diff_vs_random, 3),
                    fmt(row.p_vs_random, 4),
                ]
            )
    header = ["steered", "condition", "gamma", "mean", "95% CI", "n", "diff vs random", "p"]
    return html_table(header, rows, 2)


def _judge_note(evaluation: Evaluation, name: str) -> str:
    """Totals of a judge's samples: valid ratings, malformed outputs, gibberish."""
    info = evaluation.judges.get(name)
    if not isinstance(info, Mapping):
        return ""
    parts = [f"{k}: {info[k]}" for k in ("kind", "samples", "ratings", "malformed", "gibberish")]
    return f'<p class="small">{esc(" · ".join(p for p in parts if not p.endswith("None")))}</p>'


def dose_response_section(run: RunData, evaluation: Evaluation) -> str:
    """Questionnaire (and each judge's) score of the steered dimension vs gamma."""
    dims = eval_dimensions(run, evaluation)
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
        parts.append(f"<h3>{esc(title)}</h3>")
        parts.append(_judge_note(evaluation, judge) if judge else "")
        parts.append(figure_html(fig, f"Dose-response curves of {measure} vs gamma"))
        gamma = reference_gamma(r.gamma for r in evaluation.select(measure=measure))
        if gamma is not None:
            parts.append(
                f"<details><summary>Scores at gamma = {esc(fmt_gamma(gamma))}</summary>"
                f"{_scores_table(evaluation, measure, dims, gamma)}</details>"
            )
    if len(parts) == 1:
        parts.append('<p class="note">The evaluation holds no questionnaire or judge scores.</p>')
    return section("dose-response", "Dose-response curves", "".join(parts))


def eval_dimensions(run: RunData, evaluation: Evaluation) -> list[str]:
    """Steered dimensions: the run's order first, then any other the evaluation names."""
    seen = list(dict.fromkeys(r.steered_dimension for r in evaluation.rows))
    return [d for d in run.dimensions if d in seen] + [d for d in seen if d not in run.dimensions]


def cost_section(run: RunData, evaluation: Evaluation) -> str:
    """Perplexity ratio and share of degenerate answers vs gamma."""
    dims = eval_dimensions(run, evaluation)
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
            parts.append(f"<h3>{esc(title)}</h3>")
            parts.append(figure_html(fig, f"{title} vs gamma"))
    if len(parts) == 1:
        parts.append('<p class="note">The evaluation measured no perplexity.</p>')
    return section("perplexity", "Perplexity cost", "".join(parts))


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
    dims = eval_dimensions(run, evaluation)
    gamma = reference_gamma(r.gamma for r in evaluation.leakage if r.condition == "affirm")
    if gamma is None or not dims:
        body = '<p class="note">The evaluation holds no leakage under affirm steering.</p>'
        return section("leakage", "Leakage between dimensions", body)
    matrix = leakage_matrix(evaluation, dims, gamma=gamma)
    values = [[math.nan if r is None else r.shift for r in row] for row in matrix]
    limit = max((abs(v) for row in values for v in row if not math.isnan(v)), default=0.0) or 1.0
    labels = [mpl_text(dimension_label(d)) for d in dims]
    fig = Figure(figsize=(6.6, 4.8), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit)
    annotate(ax, values, "{:+.3f}", threshold=0.6 * limit, signed=True)
    ax.set_xticks(range(len(dims)), labels, rotation=25, ha="right", fontsize=9)
    ax.set_yticks(range(len(dims)), labels, fontsize=9)
    ax.set_xlabel("scored dimension (shift vs unedited)")
    ax.set_ylabel("steered toward affirm")
    fig.colorbar(image, ax=ax, label="questionnaire score shift", shrink=0.85)
    intro = (
        f"<p>Rows: the dimension steered toward its affirming pole at gamma = "
        f"{esc(fmt_gamma(gamma))}. Columns: the shift of each dimension's questionnaire "
        "score from the unedited model's. The diagonal is the intended effect; Schwartz's "
        "circle predicts that the opposed dimension moves the other way.</p>"
    )
    rows = [
        [
            esc(dimension_label(r.steered_dimension)),
            esc(dimension_label(r.scored_dimension)),
            fmt(r.shift, sign=True),
            f"[{fmt(r.ci_low, sign=True)}, {fmt(r.ci_high, sign=True)}]",
            esc(r.n),
        ]
        for row in matrix
        for r in row
        if r is not None
    ]
    table = html_table(["steered", "scored", "shift", "95% CI", "n"], rows, 2)
    details = f"<details><summary>Shifts with confidence intervals</summary>{table}</details>"
    figure = figure_html(fig, "Heatmap of questionnaire score shifts across dimensions")
    return section("leakage", "Leakage between dimensions", intro + figure + details)


def examples_section(run: RunData, evaluation: Evaluation, *, per_dimension: int = 2) -> str:
    """Answers to the same prompt, unedited and steered at the reference gamma, side by side.

    Args:
        per_dimension: prompts shown per steered dimension.
    """
    if not evaluation.examples:
        body = '<p class="note">The evaluation kept no example answers.</p>'
        return section("examples", "Example answers", body)
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
            f'<article class="example"><p class="steer">steering {esc(dimension_label(dim))}'
            f'</p><blockquote class="prompt">{esc(examples[0].prompt)}</blockquote>'
            f'<div class="answers">{answers}</div></article>'
        )
    if not cards:
        body = '<p class="note">No example has both an unedited and a steered answer.</p>'
        return section("examples", "Example answers", body)
    intro = (
        f"<p>Answers to the same test prompt: unedited, and steered toward each pole at "
        f"gamma = {esc(fmt_gamma(gamma))}.</p>"
    )
    return section("examples", "Example answers", intro + "".join(cards))


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
        f'<div class="answer {esc(example.condition)}"><h4>{esc(label)}{flag}</h4>'
        f'<div class="text">{esc(example.answer)}</div></div>'
    )
