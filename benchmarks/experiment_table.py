"""Print the steering experiment's table from a run's evaluation results (Markdown).

Per steered dimension, at one gamma: the questionnaire score shift of that dimension (vs the
unedited model) when steering toward each pole, the random control's shifts, the p-values of
steered vs random control, and the perplexity ratio of neutral text under the edit.

    .venv/bin/python benchmarks/experiment_table.py RUN_DIR --gamma 1
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--gamma", type=float, default=1.0)
    parser.add_argument("--measure", default="questionnaire")
    args = parser.parse_args()
    data = json.loads((args.run_dir / "evaluation" / "results.json").read_text())
    rows = data["scores"]

    def find(measure: str, dim: str, condition: str, gamma: float | None, scored: str | None):  # type: ignore[no-untyped-def]
        for r in rows:
            if (
                r["measure"] == measure
                and r["steered_dimension"] == dim
                and r["condition"] == condition
                and (gamma is None or r["gamma"] == gamma)
                and (scored is None or r["scored_dimension"] == scored)
            ):
                return r
        return None

    def fmt(x: float | None, digits: int = 3) -> str:
        return "-" if x is None else f"{x:+.{digits}f}"

    print(
        f"| dimension | none | affirm shift | oppose shift | random_affirm shift | "
        f"random_oppose shift | p(affirm vs random) | p(oppose vs random) | "
        f"perplexity ratio (affirm / oppose) |  ({args.measure}, gamma {args.gamma:g})"
    )
    print("| --- " * 9 + "|")
    dims = sorted({r["steered_dimension"] for r in rows if r["steered_dimension"]})
    for dim in dims:
        base = find(args.measure, dim, "none", None, dim)
        if base is None or base["mean"] is None:
            continue
        shifts, pvals = {}, {}
        for cond in ("affirm", "oppose", "random_affirm", "random_oppose"):
            r = find(args.measure, dim, cond, args.gamma, dim)
            shifts[cond] = None if r is None or r["mean"] is None else r["mean"] - base["mean"]
            pvals[cond] = None if r is None else r.get("p_vs_random")
        ppl = [find("perplexity_ratio", dim, c, args.gamma, None) for c in ("affirm", "oppose")]
        ppl_text = " / ".join("-" if p is None else f"{p['mean']:.2f}" for p in ppl)
        p_a, p_o = pvals["affirm"], pvals["oppose"]
        print(
            f"| {dim} | {base['mean']:+.3f} | {fmt(shifts['affirm'])} | {fmt(shifts['oppose'])} "
            f"| {fmt(shifts['random_affirm'])} | {fmt(shifts['random_oppose'])} "
            f"| {'-' if p_a is None else f'{p_a:.3f}'} | {'-' if p_o is None else f'{p_o:.3f}'} "
            f"| {ppl_text} |"
        )


if __name__ == "__main__":
    main()
