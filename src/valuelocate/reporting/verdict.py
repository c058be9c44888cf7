"""The report's opening section: the verdict (``RUN_DIR/verdict/verdict.json``), read from the
JSON alone (no model).

Version 2 (the schema: docs/verdict.md) opens with a forest plot of every dimension and
instrument against its nulls, one plain sentence per dimension (which nulls the located set
beats, and where an instrument cannot read the model), the sparsity curve with a sentence per
dimension naming the sparsest point that beats its nulls, and a compact table of the numbers
(a null prints as an em dash, never ``nan``); then the study's rule, when the file has it.
A version-1 file (no ``version``, a flat ``rows`` list) still renders as its old table
(:mod:`valuelocate.reporting.verdict_v1`).

:func:`verdict_lines` is the same verdict for the terminal (``valuelocate run`` prints it): a
table of at most 80 columns with a mark per test, and the sentences, wrapped.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from valuelocate.reporting.figures import esc, figure_html, html_table, section
from valuelocate.reporting.verdict_figures import curve_figure, forest_figure
from valuelocate.reporting.verdict_text import (
    CANNOT_READ,
    DASH,
    INSTRUMENTS,
    MARKS,
    alpha_of,
    curve_sentence,
    dimension_sentence,
    dimensions,
    fmt_band,
    fmt_ci,
    fmt_count,
    fmt_num,
    fmt_p,
    instrument_name,
    instruments,
    mark,
    num,
    obj,
    reading_of,
    reads,
    set_label,
)
from valuelocate.reporting.verdict_v1 import is_v1, v1_lines, v1_section
from valuelocate.vocab import dimension_label

TITLE = "Verdict: does steering beat its nulls?"


def verdict_section(verdict: Mapping[str, Any]) -> str:
    """The verdict as an HTML section (id ``verdict``), for a version-2 or a version-1 file."""
    if is_v1(verdict):
        return v1_section(verdict)
    if verdict.get("version") != 2:
        note = (
            f"<p class=note>This <code>verdict.json</code> has version "
            f"<code>{esc(verdict.get('version'))}</code>; this report reads versions 1 and 2.</p>"
        )
        return section("verdict", TITLE, note)
    return section("verdict", TITLE, _v2_body(verdict))


def _v2_body(verdict: Mapping[str, Any]) -> str:
    alpha = alpha_of(verdict)
    keys = instruments(verdict)
    dims = dimensions(verdict)
    intro = (
        "<p>Does editing the located neurons move the model's value reading further than "
        "edits that should not? Every number is a <b>gap between the poles</b> on the test "
        "split: the reading (mean per-token log-likelihood of the affirming answer minus the "
        "opposing one, nats) under the affirming condition minus under the opposing one; "
        "&gt; 0 is the right way. The edit runs at the damage budget "
        f"<code>{esc(verdict.get('budget'))}</code> and is tested against three nulls: random "
        "neuron sets of the same size, label shuffles, and word priming (a bias toward the "
        "poles' answer words, no neuron edit). The persona prompt is the positive control: "
        "where it does not separate the poles, the instrument cannot read this model and its "
        "row counts neither for nor against steering. A test passes at a Holm-adjusted "
        f"p &lt; {esc(f'{alpha:g}')} (one-sided, across the dimensions).</p>"
    )
    tallies = []
    for key in keys:
        counts = obj(obj(verdict.get("summary")).get(key))
        if counts:
            of = fmt_count(counts.get("of"))
            described = obj(verdict.get("instruments")).get(key) or instrument_name(key)
            tallies.append(
                f"<li><b>{esc(described)}</b>: beats every null in "
                f"<b>{fmt_count(counts.get('beats_all'))}/{of}</b> dimensions, moves the reading "
                f"in {fmt_count(counts.get('moves'))}/{of}, reads the model in "
                f"{fmt_count(counts.get('reads'))}/{of}.</li>"
            )
    parts = [intro, f"<ul>{''.join(tallies)}</ul>" if tallies else ""]
    parts.append(
        figure_html(
            forest_figure(verdict),
            "Forest plot: per dimension and instrument, the edit's gap with its 95% CI "
            "against the random sets' and label shuffles' bands, word priming and the prompt",
        )
    )
    sentences = "".join(f"<li>{esc(dimension_sentence(d, alpha, keys))}</li>" for d in dims)
    parts.append(f'<ul class="verdicts">{sentences}</ul>')
    parts.append("<h3>How sparse can the edit be?</h3>")
    parts.append(
        "<p>The sparsity curve: the linearised gap (the reading's gradient times the edit) of "
        "every ladder point, from the sparsest to the whole band, each against random sets of "
        "its own size and label shuffles (shaded: their 2.5%-97.5% bands). A filled marker "
        f"beats both on the test split (p &lt; {esc(f'{alpha:g}')}); the star is the default "
        "point.</p>"
    )
    parts.append(
        figure_html(
            curve_figure(verdict),
            "Sparsity curve: per dimension, the linearised gap against the fraction of MLP "
            "neurons edited, with the random-set and shuffle bands",
        )
    )
    curve = "".join(f"<li>{esc(curve_sentence(d, alpha, keys))}</li>" for d in dims)
    parts.append(f'<ul class="verdicts">{curve}</ul>')
    small = []
    if verdict.get("rule"):
        small.append(f"<b>The default point.</b> {esc(verdict['rule'])}")
    agreement = []
    for d in dims if keys else []:
        linear = obj(obj(reading_of(d, keys[0])).get("linear"))
        if num(linear.get("gap")) is not None or num(linear.get("exact_gap")) is not None:
            agreement.append(
                f"{esc(dimension_label(str(d.get('dimension'))))} "
                f"{fmt_num(linear.get('gap'))} / {fmt_num(linear.get('exact_gap'))}"
            )
    if agreement:
        small.append(
            f"Linearised / exact gap at the default point ({esc(instrument_name(keys[0]))}): "
            f"{'; '.join(agreement)}."
        )
    if small:
        parts.append(f'<p class="small">{" ".join(small)}</p>')
    parts.append("<h3>The numbers</h3>")
    parts.append(_table(verdict, alpha, keys))
    study = [r for r in verdict.get("study") or [] if isinstance(r, Mapping)]
    if study:
        parts.append("<h3>The study's rule (replication)</h3>")
        parts.append(_study_table(study))
    return "".join(parts)


def _ci_cell(stat: Any) -> str:
    """The mean, and its 95% CI below it in small print (keeps the table narrow)."""
    stat = obj(stat)
    mean = esc(fmt_num(stat.get("mean")))
    if num(stat.get("ci_low")) is None and num(stat.get("ci_high")) is None:
        return mean
    ci = f"[{fmt_num(stat.get('ci_low'))}, {fmt_num(stat.get('ci_high'))}]"
    return f'{mean}<br><span class="small">{esc(ci)}</span>'


def _p_cell(test: Any, alpha: float) -> str:
    p = num(obj(test).get("p_holm"))
    text = esc(fmt_p(p))
    return f"<b>{text}</b>" if p is not None and p < alpha else text


def _table(verdict: Mapping[str, Any], alpha: float, keys: Sequence[str]) -> str:
    """Per dimension and instrument: the default set, gamma, cost, the edit's gap and each
    null's, the Holm p of each test, and whether the instrument reads the model."""
    header = [
        "dimension", "instrument", "default set", "gamma<br>cost +/−", "edit gap<br>[95% CI]",
        "random sets<br>band", "label shuffles<br>band", "word priming<br>gap",
        "persona prompt<br>gap", "Holm p<br>moves", "<br>random", "<br>shuffles", "<br>word",
        "reads",
    ]  # fmt: skip
    rows = []
    for dimension in dimensions(verdict):
        cost = obj(dimension.get("cost"))
        costs = " / ".join(fmt_num(cost.get(pole), 3, sign=False) for pole in ("affirm", "oppose"))
        gamma = esc(fmt_num(dimension.get("gamma"), 2, sign=False))
        first = [
            esc(dimension_label(str(dimension.get("dimension")))),
            esc(set_label(dimension.get("default"))),
            f'{gamma}<br><span class="small">{esc(costs)}</span>',
        ]
        for i, key in enumerate(keys):
            reading = obj(reading_of(dimension, key))
            readable = reads(reading)
            name = esc(instrument_name(key))
            if readable is False:
                name += f'<br><span class="small">{esc(CANNOT_READ)}</span>'
            cells = [first[0] if i == 0 else "", name, *(first[1:] if i == 0 else ["", ""])]
            cells += [
                _ci_cell(obj(reading.get("edit")).get("gap")),
                esc(fmt_band(reading.get("random_sets"))),
                esc(fmt_band(reading.get("shuffles"))),
                _ci_cell(obj(reading.get("word_priming")).get("gap")),
                _ci_cell(obj(reading.get("prompt")).get("gap")),
                *(_p_cell(reading.get(t), alpha) for t in
                  ("moves", "random_sets", "shuffles", "word_priming")),
                "yes" if readable else DASH if readable is None else "no",
            ]  # fmt: skip
            if readable is False:
                cells = [f'<span class="greyed">{c}</span>' if c else c for c in cells]
            rows.append(cells)
    note = (
        '<p class="small">Gaps in nats, 95% CIs over items; a null\'s band is the 2.5%-97.5% '
        f"range of its gaps; cost +/− is the neutral-text cost of the affirming / opposing "
        f"edit; a bold p is below {esc(f'{alpha:g}')}; {DASH} is not measured."
        "</p>"
    )
    return html_table(header, rows, numeric_from=3) + note


def _study_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The study's dynamic rule on the located sets, against its random control."""
    header = ["direction", "neurons", "gamma", "cost", "shift [95% CI]", "control shift",
              "p vs control", "items"]  # fmt: skip
    cells = []
    for row in rows:
        stat = {
            "mean": row.get("shift"),
            "ci_low": row.get("ci_low"),
            "ci_high": row.get("ci_high"),
        }
        cells.append([
            f"{esc(dimension_label(str(row.get('dimension'))))} → {esc(row.get('pole'))}",
            esc(fmt_count(row.get("neurons"))),
            esc(fmt_num(row.get("gamma"), 3, sign=False)),
            esc(fmt_num(row.get("cost"), 3, sign=False)),
            esc(fmt_ci(stat, 3)),
            esc(fmt_num(row.get("control_shift"), 3)),
            esc(fmt_p(row.get("p_control"))),
            esc(fmt_count(row.get("n"))),
        ])  # fmt: skip
    note = (
        '<p class="small">The shift of the forced-choice reading toward the pole (nats; '
        "negative for the opposing pole), as the study's rule and its random control read it "
        "at the same budget.</p>"
    )
    return html_table(header, cells) + note


# --------------------------------------------------------------------------------------------
# The terminal summary


# The terminal's label of an instrument beyond the two columns (its own line per dimension).
EXTRA_LABELS = {"choice": "A/B"}


def _row(cells: Sequence[str], dim_width: int) -> str:
    dim, default, fc_gap, fc_marks, dp_gap, dp_marks = cells
    dim = dim if len(dim) <= dim_width else dim[: dim_width - 1] + "."
    return (
        f"{dim:<{dim_width}} {default:<13} {fc_gap:<20} {fc_marks:<7}  {dp_gap:>6} {dp_marks}"
    ).rstrip()


def verdict_lines(
    verdict: Mapping[str, Any], width: int = 80, *, report: str | None = None
) -> list[str]:
    """The verdict as plain lines of at most ``width`` columns (65 or more) for the terminal:
    a title, one line per dimension (default set, forced-choice gap with its CI and a mark per
    test, the decision-pair gap and its marks; when the run read the A/B choice, a second line
    with its gap and marks), a legend, the sentences, and the report's path.

    A version-1 file (no ``version``, a flat ``rows`` list) gives its old counts instead.
    """
    if is_v1(verdict):
        return v1_lines(verdict, width, report)
    if verdict.get("version") != 2:
        lines = [f"verdict.json has version {verdict.get('version')!r}; this code reads 1 and 2."]
        return _wrap(lines, width) + ([f"Full report: {report}"] if report else [])
    alpha = alpha_of(verdict)
    keys = instruments(verdict)
    fc, dp = INSTRUMENTS
    split = verdict.get("split") or obj(verdict.get("options")).get("split") or "test"
    model = verdict.get("model") or obj(verdict.get("options")).get("model")
    title = " · ".join(
        ["Verdict", *([f"model {model}"] if model else []),
         f"budget {verdict.get('budget') or DASH}", f"alpha {alpha:g}", f"{split} split"]
    )  # fmt: skip
    dim_width = max(6, min(18, width - 59))
    extra = [key for key in keys if key not in INSTRUMENTS]
    lines = _wrap([title], width)
    letters = " ".join(letter for _, letter in MARKS)
    header = ["dimension", "default set", "FC gap [95% CI]", letters, "DP gap", letters]
    lines += ["", _row(header, dim_width)]
    for dimension in dimensions(verdict):
        cells = [
            dimension_label(str(dimension.get("dimension"))),
            set_label(dimension.get("default")),
        ]
        for key in (fc, dp):
            reading = reading_of(dimension, key)
            gap = obj(obj(obj(reading).get("edit")).get("gap"))
            cells.append(fmt_ci(gap) if key == fc else fmt_num(gap.get("mean")))
            cells.append(" ".join(mark(reading, test, alpha) for test, _ in MARKS))
        lines.append(_row(cells, dim_width))
        for key in extra:  # the opt-in A/B reading: its own line, under the forced-choice one
            reading = reading_of(dimension, key)
            if reading is None:
                continue
            gap = obj(obj(reading.get("edit")).get("gap"))
            marks = " ".join(mark(reading, test, alpha) for test, _ in MARKS)
            lines.append(_row(["", f"  {EXTRA_LABELS.get(key, key)}", fmt_ci(gap), marks, "", ""],
                              dim_width))  # fmt: skip
    legend = (
        f"FC = {instrument_name(fc)}, DP = {instrument_name(dp)} (nats, gap between the poles). "
        + (
            "A/B = the A/B choice reading (P(affirming option), gap between the poles), on its "
            "own line. "
            if "choice" in extra
            else ""
        )
        + f"Marks, Holm p < {alpha:g}: M moves at all, R beyond random sets, S beyond label "
        f"shuffles, W beyond word priming; + beats, - does not, ? the {CANNOT_READ}, "
        ". not measured."
    )
    lines += [""] + _wrap([legend], width)
    counts = obj(verdict.get("summary"))
    tallies = []
    for key in (fc, dp, *extra):
        c = obj(counts.get(key))
        if c:
            of = fmt_count(c.get("of"))
            tallies.append(
                f"{instrument_name(key)}: beats every null in {fmt_count(c.get('beats_all'))}/{of}"
                f", moves in {fmt_count(c.get('moves'))}/{of}, reads the model in "
                f"{fmt_count(c.get('reads'))}/{of}"
            )
    if tallies:
        lines += _wrap(["; ".join(tallies) + "."], width)
    lines.append("")
    for dimension in dimensions(verdict):
        lines += _wrap([dimension_sentence(dimension, alpha, keys)], width, indent="  ")
    if report:
        lines += ["", f"Full report: {report}"]
    return lines


def _wrap(paragraphs: Sequence[str], width: int, indent: str = "") -> list[str]:
    """Wrapped lines; ``p = 0.21`` is never split across two lines."""
    out: list[str] = []
    for text in paragraphs:
        glued = text.replace("p = ", "p\xa0=\xa0")
        lines = textwrap.wrap(glued, width, subsequent_indent=indent, break_on_hyphens=False)
        out += [line.replace("\xa0", " ") for line in lines] or [""]
    return out
