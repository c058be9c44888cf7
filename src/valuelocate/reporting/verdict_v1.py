"""A version-1 ``verdict.json`` (no ``version``, a flat ``rows`` list): the compatibility path
of :mod:`valuelocate.reporting.verdict`, so that the runs made before version 2 still render.

Per dimension and pole, for the default steering and for the study's rule: the forced-choice
shift toward the pole on the test split (nats, 95% CI), the matched control's shift, the
paired p-value against it and whether the direction beat its control; the prompt baseline's
shift beside them as the yardstick. In the terminal: per method, how many directions beat
their control.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from valuelocate.reporting.figures import esc, fmt, html_table, section
from valuelocate.vocab import dimension_label


def is_v1(verdict: Mapping[str, Any]) -> bool:
    """A version-1 file: no ``version`` key and a flat ``rows`` list."""
    return verdict.get("version") is None and isinstance(verdict.get("rows"), list)


_METHOD_TITLES = {
    "default": "Default steering",
    "study": "The study's rule",
    "prompt": "Prompt baseline",
}


def _cell(row: Mapping[str, Any] | None) -> list[str]:
    """gamma (ppl), shift [CI], control, p, verdict of one method's row."""
    if row is None:
        return ["–"] * 5
    shift = (
        f"{fmt(row.get('shift'), sign=True)} "
        f"[{fmt(row.get('ci_low'), sign=True)}, {fmt(row.get('ci_high'), sign=True)}]"
    )
    strength = f"{fmt(row.get('gamma'), 2)} ({fmt(row.get('cost'), 3)})"
    verdict = "<b>yes</b>" if row.get("beats_control") else "no"
    return [strength, shift, fmt(row.get("control_shift"), sign=True), _p(row), verdict]


def _p(row: Mapping[str, Any]) -> str:
    p = row.get("p_control")
    return "–" if p is None else f"{p:.2g}"


def _summary(verdict: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    configs = verdict.get("configs") or {}
    parts = []
    for method, name in configs.items():
        if method == "prompt":
            continue
        mine = [r for r in rows if r.get("method") == method]
        wins = sum(bool(r.get("beats_control")) for r in mine)
        parts.append(
            f"<li><b>{esc(_METHOD_TITLES.get(method, method))}</b> (<code>{esc(name)}</code>): "
            f"<b>{wins}/{len(mine)}</b> directions beat their matched random control.</li>"
        )
    return f"<ul>{''.join(parts)}</ul>"


def v1_section(verdict: Mapping[str, Any]) -> str:
    """A version-1 verdict (no ``version``, a flat ``rows`` list): the old table."""
    rows = [r for r in verdict.get("rows", []) if isinstance(r, Mapping)]
    alpha = verdict.get("alpha", 0.01)
    intro = (
        "<p>Does editing the neurons move the model's value orientation further than a matched "
        "random edit? Measure: the forced-choice likelihood on the <b>test split</b> (mean "
        "per-token log-likelihood of the affirming answer minus the opposing one, nats; "
        "positive = toward the affirming pole). Every edit runs at the gamma where its "
        f"neutral-text cost reaches the budget <code>{esc(verdict.get('budget'))}</code>, and "
        "its control (the same magnitudes on other neurons, or permuted within each layer) "
        "at the same gamma. A direction beats its control when it moves the reading toward "
        f"the targeted pole, further than the control, with a paired permutation p &lt; "
        f"{esc(alpha)}.</p>"
    )
    by_key: dict[tuple[str, str, str], Mapping[str, Any]] = {
        (str(r.get("method")), str(r.get("dimension")), str(r.get("pole"))): r for r in rows
    }
    directions = list(dict.fromkeys((str(r.get("dimension")), str(r.get("pole"))) for r in rows))
    methods = [m for m in ("default", "study") if any(k[0] == m for k in by_key)]
    header = ["direction"]
    for method in methods:
        title = esc(_METHOD_TITLES[method])
        header += [
            f"{title}: gamma (ppl)",
            "shift [95% CI]",
            "control",
            "p",
            "beats control",
        ]
    header.append("prompt baseline shift [95% CI]")
    table_rows = []
    for dimension, pole in directions:
        cells = [f"{esc(dimension_label(dimension))} → {esc(pole)}"]
        for method in methods:
            cells += _cell(by_key.get((method, dimension, pole)))
        prompt = by_key.get(("prompt", dimension, pole))
        cells.append(
            "–"
            if prompt is None
            else f"{fmt(prompt.get('shift'), sign=True)} [{fmt(prompt.get('ci_low'), sign=True)}, "
            f"{fmt(prompt.get('ci_high'), sign=True)}]"
        )
        table_rows.append(cells)
    body = intro + _summary(verdict, rows) + html_table(header, table_rows)
    body += (
        '<p class="small">For the opposing pole the predicted shift is negative. The '
        "questionnaire and the judges below use fixed gammas and the study's rule.</p>"
    )
    return section("verdict", "Verdict: does steering beat its random control?", body)


def v1_lines(verdict: Mapping[str, Any], width: int, report: str | None) -> list[str]:
    """A version-1 verdict: per method, how many directions beat their control."""
    alpha = verdict.get("alpha", 0.01)
    rows = [r for r in verdict.get("rows") or [] if isinstance(r, Mapping)]
    texts = [f"Verdict (version 1 file): budget {verdict.get('budget')}"]
    for method, config in (verdict.get("configs") or {}).items():
        if method == "prompt":
            continue
        mine = [r for r in rows if r.get("method") == method]
        wins = sum(bool(r.get("beats_control")) for r in mine)
        texts.append(
            f"{method} ({config}): {wins}/{len(mine)} directions beat their control "
            f"at p < {alpha:g}"
        )
    lines = [line for text in texts for line in textwrap.wrap(text, width, subsequent_indent="  ")]
    return lines + (["", f"Full report: {report}"] if report else [])
