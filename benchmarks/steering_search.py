"""The steering comparison grid on the embedded model: search split to choose, test to verify.

Runs cells of {contrast source} x {selection} x {edit rule}, the residual-stream reference and
the prompt baseline on the forced-choice likelihood reading of the SEARCH split, each edit at
the gamma where the neutral-text perplexity ratio reaches the budget (bisection), against its
matched random control at the same gamma. Cells run in the order given until the time budget
is spent. The default is then chosen by a rule fixed here in advance, on the search rows only:
most directions beating the control at p < 0.01 within the budget, then the larger mean shift
toward the targeted pole. That one configuration is then read once on the TEST split, at the
gammas found on the search run (the cost does not depend on the items).

    PYTHONPATH=src python benchmarks/steering_search.py --out runs/steering-search \
        --minutes 20 --items-per-dimension 20

Writes grid.json/csv (search), verdict.json/csv (test) and summary.md into --out.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from valuelocate.data import DIMENSIONS
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.evaluation.compare import Config, Grid, GridRow, score, write_rows
from valuelocate.evaluation.cost import load_neutral_texts
from valuelocate.evaluation.forced_choice import likelihood_reading, summarize_shift
from valuelocate.models import load_model

BAND = tuple(range(8, 23))
CELLS = [
    Config("desc+band+mean-diff", "descriptions", "band", "mean-diff", band=BAND),
    Config("prompt-baseline", "none", "none", "prompt"),
    Config("residual L15 (desc)", "descriptions", "none", "residual", layer=15),
    Config("pairs+band+mean-diff", "pairs", "band", "mean-diff", band=BAND),
    Config(
        "desc+mean-diff(1%)+mean-diff",
        "descriptions",
        "mean-diff",
        "mean-diff",
        params={"top_k": 0.01},
    ),
    Config("desc+delta-p+dynamic(v=p)", "descriptions", "delta-p", "dynamic", params={"v": "p"}),
    Config("desc+cohens-d+mean-diff", "descriptions", "cohens-d", "mean-diff", params={"q": 0.01}),
    Config("desc+delta-p+mean-diff", "descriptions", "delta-p", "mean-diff"),
]


def table(rows: list[GridRow]) -> str:
    head = (
        "| cell | dimension | pole | gamma | ppl ratio | shift (nats) | 95% CI | wrong way | "
        "control shift | p vs control | neurons |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        lines.append(
            f"| {r.config} | {r.dimension} | {r.pole} | {r.gamma:.3g} | {r.cost:.3f} | "
            f"{r.shift:+.4f} | [{r.ci_low:+.4f}, {r.ci_high:+.4f}] | {r.wrong_way:.2f} | "
            f"{r.control_shift:+.4f} | {r.p_control:.2g} | {r.neurons} |"
        )
    return head + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("runs/steering-search"))
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--items-per-dimension", type=int, default=20)
    parser.add_argument("--neutral-texts", type=int, default=12)
    parser.add_argument("--budget", type=float, default=1.10)
    parser.add_argument("--cells", type=int, default=len(CELLS))
    parser.add_argument("--skip-test", action="store_true")
    parser.add_argument("--model", default="default")
    parser.add_argument("--test-items", type=int, default=40, help="test items per dimension")
    parser.add_argument("--steps", type=int, default=4, help="bisection steps")
    parser.add_argument("--start-gamma", type=float, default=1.0)
    parser.add_argument("--dimensions", default=",".join(DIMENSIONS))
    parser.add_argument("--band", default="8-22", help="first-last layer of the band")
    parser.add_argument("--layer", type=int, default=15, help="residual reference layer")
    args = parser.parse_args()
    torch.manual_seed(0)
    dimensions = [d for d in args.dimensions.split(",") if d]
    began = time.monotonic()
    log = lambda line: print(f"[{time.monotonic() - began:6.0f} s] {line}", flush=True)  # noqa: E731
    lm = load_model(args.model)
    first, last = (int(x) for x in args.band.split("-"))
    cells = [
        replace(
            c,
            band=tuple(range(first, last + 1)) if c.band else (),
            layer=args.layer if c.layer is not None else None,
        )
        for c in CELLS
    ]
    search = {
        d: sorted(load_forced_choice(dimension=d, split="search"), key=lambda i: i.id)[
            : args.items_per_dimension
        ]
        for d in dimensions
    }
    grid = Grid(
        lm,
        search,
        budget=args.budget,
        pairs_items={d: load_forced_choice(dimension=d, split="search") for d in dimensions},
        neutral_texts=load_neutral_texts()[: args.neutral_texts],
        progress=log,
        start_gamma=args.start_gamma,
        steps=args.steps,
    )
    log("unedited search readings done")
    deadline = began + 60 * args.minutes
    rows: list[GridRow] = []
    done: list[str] = []
    for config in cells[: args.cells]:
        if time.monotonic() > deadline:
            log(f"time budget spent: {config.name} and later cells not run")
            break
        for dimension in dimensions:
            rows.extend(grid.run(config, dimension))
        done.append(config.name)
        write_rows(rows, args.out, name="grid")
    search_seconds = time.monotonic() - began
    ranked = sorted(
        (c for c in done if c != "prompt-baseline"),
        key=lambda c: score([r for r in rows if r.config == c], budget=args.budget),
        reverse=True,
    )
    lines = [f"# Steering search (search split, {args.items_per_dimension} items per dimension)\n"]
    lines.append(f"command: `{' '.join(sys.argv)}`; search wall time {search_seconds:.0f} s\n")
    for c in done:
        wins, mean = score([r for r in rows if r.config == c], budget=args.budget)
        lines.append(
            f"- {c}: {wins}/{2 * len(dimensions)} directions beat control at p<0.01; "
            f"mean shift toward pole {mean:+.4f}"
        )
    lines.append("\n" + table(rows))
    if ranked and not args.skip_test:
        chosen = next(c for c in cells if c.name == ranked[0])
        log(f"chosen on the search split: {chosen.name}; reading the test split once")
        test = {
            d: sorted(load_forced_choice(dimension=d, split="test"), key=lambda i: i.id)[
                : args.test_items
            ]
            for d in dimensions
        }
        verdict: list[GridRow] = []
        for dimension in dimensions:
            base = likelihood_reading(lm, test[dimension]).numpy()
            for pole in ("affirm", "oppose"):
                searched = next(
                    r
                    for r in rows
                    if r.config == chosen.name and r.dimension == dimension and r.pole == pole
                )
                make, make_control, neurons = grid.factories(chosen, dimension, pole)
                edit = make(searched.gamma)
                edited = likelihood_reading(lm, test[dimension], edit=edit).numpy()
                control = likelihood_reading(
                    lm, test[dimension], edit=make_control(searched.gamma)
                ).numpy()
                s = summarize_shift(edited - base, toward=pole, control=control - base)
                full_cost = grid.cost(edit)
                verdict.append(
                    GridRow(
                        **{
                            **asdict(searched),
                            **asdict(s),
                            "cost": full_cost,
                            "selectivity": math.nan,
                            "seconds": 0.0,
                        }
                    )
                )
                log(
                    f"TEST {dimension}.{pole}: shift {s.shift:+.4f} "
                    f"[{s.ci_low:+.4f}, {s.ci_high:+.4f}] control {s.control_shift:+.4f} "
                    f"p {s.p_control:.2g}"
                )
        write_rows(verdict, args.out, name="verdict")
        wins = sum(r.beats_control(0.01) and r.cost <= args.budget for r in verdict)
        lines.append(
            f"\n# Test split verdict: {chosen.name} ({wins}/{2 * len(dimensions)} directions "
            "beat control at p<0.01 within budget)\n"
        )
        lines.append(table(verdict))
    lines.append(f"\ntotal wall time {time.monotonic() - began:.0f} s\n")
    (args.out / "summary.md").write_text("\n".join(lines), encoding="utf-8")
    log("done")


if __name__ == "__main__":
    main()
