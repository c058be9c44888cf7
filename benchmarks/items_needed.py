"""How many test items a verdict would need to decide, at the effect sizes it measured.

For each dimension and instrument of ``RUN/verdict/items.jsonl``: the per-item gap of the edit
(affirm minus oppose), of the edit beyond word priming, and of the persona prompt; their mean
and standard deviation; and the items a one-sided test at level ``alpha`` would need for 80%
power if the true mean were the measured one (normal approximation,
``n = ((z_alpha + z_0.8) sd / mean)^2``; "never" where the measured mean is not positive).
The default ``alpha`` 0.0025 is the verdict's 0.01 after Holm's strictest step over four
dimensions.

Usage:

    python benchmarks/items_needed.py RUN [--alpha 0.0025]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path

from scipy.stats import norm

POWER = 0.8


def needed(values: list[float], alpha: float) -> tuple[float, float, float]:
    """``(mean, sd, items needed)`` for a one-sided test of a positive mean."""
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    if mean <= 0:
        return mean, sd, math.inf
    z = norm.ppf(1 - alpha) + norm.ppf(POWER)
    return mean, sd, math.ceil((z * sd / mean) ** 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--alpha", type=float, default=0.0025)
    args = parser.parse_args()
    groups: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    with (args.run / "verdict" / "items.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            groups[(row["dimension"], row["instrument"])].append(row)
    print("| dimension | instrument | items | edit gap mean (sd): items needed "
          "| edit minus word priming | persona prompt |")  # fmt: skip
    print("|---|---|---:|---|---|---|")
    for (dimension, instrument), rows in sorted(groups.items()):
        prompt = [r["prompt_affirm"] - r["prompt_oppose"] for r in rows]
        measured = all("edit_affirm" in r for r in rows)  # else: a dimension not measured
        edit = [r["edit_affirm"] - r["edit_oppose"] for r in rows] if measured else []
        word = [r["word_affirm"] - r["word_oppose"] for r in rows] if measured else []
        cells = ["not measured", "not measured"] if not measured else []
        columns = [edit, [e - w for e, w in zip(edit, word, strict=True)]] if measured else []
        for values in (*columns, prompt):
            mean, sd, n = needed(values, args.alpha)
            cells.append(f"{mean:+.3f} ({sd:.3f}): {'never' if math.isinf(n) else f'{n:,}'}")
        print(f"| {dimension} | {instrument} | {len(rows)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
