"""The steering comparison grid on the embedded model: search split to choose, dev to verify.

A thin wrapper over :func:`valuelocate.comparison.run.compare` (the same as
``valuelocate compare``) that keeps this script's flags and prints timestamped progress lines.
Cells (``standard_cells``) run in priority order until ``--minutes`` is spent; the default is
chosen on the search rows by the rule fixed in advance (most directions beating the control at
p < 0.01 within the budget, then the larger mean shift toward the targeted pole), and only that
cell is read once on the DEV split, at the gammas found on the search split (the dev split was
the test split until it had been read many times while choosing; the held-out test split is
the main job's verdict alone, never read here).

    PYTHONPATH=src python benchmarks/steering_search.py --out runs/steering-search \
        --minutes 20 --items-per-dimension 20

``--cells N`` runs the first N standard cells; ``--cells a,b`` names them. Writes grid.json/csv
(search), verdict.json/csv (dev), compare.json and summary.md into --out. ``--test-items`` and
``--skip-test`` keep their names (those of ``valuelocate compare``) and count or skip the dev
split's reading.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from valuelocate.comparison.options import CompareOptions, standard_cells
from valuelocate.comparison.run import compare
from valuelocate.optionspec import with_overrides
from valuelocate.vocab import DIMENSIONS


def cells_argument(text: str, *, run_dir: str | None) -> str:
    """``"3"`` -> the first three standard cells' names; names pass through."""
    if not text.strip().isdigit():
        return text
    names = [c.name for c in standard_cells(30, run_dir=run_dir)]
    return ",".join(names[: int(text)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("runs/steering-search"))
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--items-per-dimension", type=int, default=20)
    parser.add_argument("--neutral-texts", type=int, default=12)
    parser.add_argument("--budget", default="ppl=1.10", help="ppl=RATIO, kl=NATS or a ratio")
    parser.add_argument("--cells", default="all", help="first N cells, names, or all")
    parser.add_argument("--skip-test", action="store_true", help="no dev-split reading")
    parser.add_argument("--model", default="default")
    parser.add_argument("--test-items", type=int, default=40, help="dev items per dimension")
    parser.add_argument("--steps", type=int, default=4, help="bisection steps")
    parser.add_argument("--start-gamma", type=float, default=1.0)
    parser.add_argument("--dimensions", default=",".join(DIMENSIONS))
    parser.add_argument("--band", default="auto", help="first-last layer of the band, or auto")
    parser.add_argument("--layer", default="auto", help="residual reference layer, or auto")
    parser.add_argument("--run-dir", default=None, help="a locate run (the generated cells)")
    parser.add_argument("--selectivity", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    options = with_overrides(
        CompareOptions(),
        {
            "model": args.model,
            "cells": cells_argument(args.cells, run_dir=args.run_dir),
            "dimensions": args.dimensions,
            "budget": args.budget,
            "items_per_dimension": args.items_per_dimension,
            "test_items": args.test_items,
            "neutral_texts": args.neutral_texts,
            "steps": args.steps,
            "start_gamma": args.start_gamma,
            "band": args.band,
            "layer": args.layer,
            "run_dir": args.run_dir,
            "selectivity": args.selectivity,
            "skip_test": args.skip_test,
            "minutes": args.minutes,
            "seed": args.seed,
        },
    )
    began = time.monotonic()

    def log(text: str, _done: int, _total: int) -> None:
        print(f"[{time.monotonic() - began:6.0f} s] {text}", flush=True)

    result = compare(options, args.out, progress=log)
    print(f"chosen: {result.chosen}; files in {result.out_dir}")


if __name__ == "__main__":
    main()
