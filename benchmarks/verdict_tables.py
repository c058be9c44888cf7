"""Print a run's verdict as the Markdown tables of docs/experiment.md, section 10.

    .venv/bin/python benchmarks/verdict_tables.py RUN/verdict/verdict.json

Per instrument, one row per dimension (the default set, its gammas and costs per pole, the
edit's gap with its CI and per-pole shifts, the linearised and exact gaps, each null with its
Holm p, the persona prompt with its p, and whether the set beats every null); then the
sparsity curve per dimension and instrument (linear gap, random and shuffle bands and p,
and the dev rule's reading). Reads the JSON only (version 2, docs/verdict.md); a missing
number prints as an em dash.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from valuelocate.reporting.verdict_text import DASH, fmt_ci, fmt_count, fmt_num, num, obj
from valuelocate.vocab import POLES


def pval(value: Any) -> str:
    """A p-value, with its digits below 0.001 too (the report prints ``< 0.001`` there)."""
    x = num(value)
    if x is None:
        return DASH
    return f"{x:.1e}" if x < 0.001 else f"{x:.2g}"


def ci(stat: Any) -> str:
    return fmt_ci(stat, 3)


def per_pole(values: Any, digits: int) -> str:
    values = obj(values)
    return "/".join(fmt_num(values.get(p), digits, sign=False) for p in POLES)


def band(test: Any, low: str = "low", high: str = "high") -> str:
    test = obj(test)
    return f"[{fmt_num(test.get(low), 3)}, {fmt_num(test.get(high), 3)}]"


def instrument_table(verdict: Mapping[str, Any], key: str) -> list[str]:
    header = [
        "dimension", "set (neurons)", "gamma +/-", "ppl +/-", "edit gap [95% CI]",
        "affirm / oppose shift", "linear (exact)", "random band (p_holm)",
        "shuffle band (p_holm)", "word priming gap (p_holm)", "prompt gap (p)", "moves p_holm",
        "beats all",
    ]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for dim in verdict.get("dimensions") or []:
        reading = obj(obj(dim.get("readings")).get(key))
        if not reading:
            continue
        edit, linear = obj(reading.get("edit")), obj(reading.get("linear"))
        word, prompt = obj(reading.get("word_priming")), obj(reading.get("prompt"))
        default = obj(dim.get("default"))
        gammas = dim.get("gammas") or {p: dim.get("gamma") for p in POLES}
        reads = prompt.get("reads")
        cells = [
            str(dim.get("dimension")),
            f"{default.get('label', DASH)} ({fmt_count(default.get('neurons'))})",
            per_pole(gammas, 1),
            per_pole(dim.get("cost"), 3),
            ci(edit.get("gap")),
            f"{fmt_num(obj(edit.get('affirm')).get('mean'), 3)} / "
            f"{fmt_num(obj(edit.get('oppose')).get('mean'), 3)}",
            f"{fmt_num(linear.get('gap'), 3)} ({fmt_num(linear.get('exact_gap'), 3)})",
            f"{band(reading.get('random_sets'))} "
            f"({pval(obj(reading.get('random_sets')).get('p_holm'))})",
            f"{band(reading.get('shuffles'))} ({pval(obj(reading.get('shuffles')).get('p_holm'))})",
            f"{ci(word.get('gap'))} ({pval(word.get('p_holm'))})",
            f"{ci(prompt.get('gap'))} ({pval(prompt.get('p'))}"
            + ("" if reads is None else ": reads" if reads else ": does not read")
            + ")",
            pval(obj(reading.get("moves")).get("p_holm")),
            "**yes**" if reading.get("beats_all") else "no",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def curve_table(verdict: Mapping[str, Any], keys: list[str]) -> list[str]:
    header = ["dimension", "point", "neurons", "gamma +/-", "random costs"]
    for key in keys:
        header += [f"{key} gap", "random band (p)", "shuffle band (p)"]
    header += ["dev gap (p random / shuffle)", "dev accepted"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for dim in verdict.get("dimensions") or []:
        for point in dim.get("curve") or []:
            costs = [c for c in point.get("random_costs") or [] if num(c) is not None]
            cost_range = f"{min(costs):.3f}-{max(costs):.3f}" if costs else DASH
            cells = [
                str(dim.get("dimension")),
                str(point.get("label")),
                fmt_count(point.get("neurons")),
                per_pole(point.get("gammas") or {"affirm": point.get("gamma")}, 1),
                cost_range,
            ]
            for key in keys:
                test = obj(point.get(key))
                cells += [
                    fmt_num(test.get("gap"), 3),
                    f"{band(test, 'random_low', 'random_high')} ({pval(test.get('p_random'))})",
                    f"{band(test, 'shuffle_low', 'shuffle_high')} ({pval(test.get('p_shuffle'))})",
                ]
            dev = obj(point.get("dev"))
            cells += [
                f"{fmt_num(dev.get('gap'), 3)} ({pval(dev.get('p_random'))} / "
                f"{pval(dev.get('p_shuffle'))})",
                "yes" if dev.get("accepted") else "no",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("verdict", type=Path, help="RUN/verdict/verdict.json")
    args = parser.parse_args()
    verdict = json.loads(args.verdict.read_text())
    if verdict.get("version") != 2:
        raise SystemExit(f"{args.verdict}: version {verdict.get('version')!r}; this reads 2")
    keys = list(obj(verdict.get("instruments")))
    for key in keys:
        print(f"**{key}** ({obj(verdict.get('instruments')).get(key)})\n")
        print("\n".join(instrument_table(verdict, key)) + "\n")
    print(
        "Sparsity curve (linear gaps on the test split; random and shuffle 95% bands; dev rule):\n"
    )
    print("\n".join(curve_table(verdict, keys)))
    summary = obj(verdict.get("summary"))
    if summary:
        print("\nSummary: " + json.dumps(summary))


if __name__ == "__main__":
    main()
