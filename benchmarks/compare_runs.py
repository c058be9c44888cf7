"""How far two main-job runs of the same model differ (another precision, device or version).

    .venv/bin/python benchmarks/compare_runs.py RUN_A RUN_B

Prints, from the files only (no model is loaded):

- the verdict's conclusions that differ (every boolean and string of each dimension's record:
  which instruments read, every mark, the default point), or that none does;
- every interval's centre (a ``mean`` beside ``ci_low``/``ci_high``): the largest move in
  nats, and the largest and median move as a share of run A's half-width;
- the p-values that moved most;
- per dimension and pole, the Jaccard overlap of the study's located sets
  (``neurons.safetensors``), and per dimension of each ladder point below the band.

docs/benchmarks.md ("bfloat16, the whole job") reports its output for a float32 and a
bfloat16 run of SmolLM2.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from valuelocate.artifacts import load_ladders, load_neuron_sets
from valuelocate.vocab import POLES


def pairs(a: Any, b: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """Every leaf both records hold, with its path."""
    if isinstance(a, dict) and isinstance(b, dict):
        yield path, a, b  # the node itself, for the intervals
        for key in a.keys() & b.keys():
            yield from pairs(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from pairs(x, y, f"{path}/{i}")
    else:
        yield path, a, b


def is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def compare_verdicts(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The verdict part of the comparison, as lines."""
    conclusions, moves, pvalues = [], [], []
    for da, db in zip(a["dimensions"], b["dimensions"], strict=True):
        for path, x, y in pairs(da, db, da["dimension"]):
            if isinstance(x, dict) and isinstance(y, dict):
                if all(is_number(x.get(k)) and is_number(y.get(k))
                       for k in ("mean", "ci_low", "ci_high")):  # fmt: skip
                    half = (x["ci_high"] - x["ci_low"]) / 2
                    move = abs(x["mean"] - y["mean"])
                    moves.append((move, move / half if half > 0 else float("inf"), path))
                if is_number(x.get("p")) and is_number(y.get("p")):
                    pvalues.append((abs(x["p"] - y["p"]), path, x["p"], y["p"]))
            elif isinstance(x, bool | str) and x != y:
                conclusions.append(f"  {path}: {x!r} -> {y!r}")
    lines = ["verdict conclusions that differ:", *(conclusions or ["  none"])]
    if moves:
        largest = max(moves)
        share = max(moves, key=lambda m: m[1])
        lines.append(
            f"{len(moves)} intervals: largest move {largest[0]:.4f} nats ({largest[2]}); "
            f"largest share of the half-width {share[1]:.0%} ({share[2]}), median "
            f"{statistics.median(m[1] for m in moves):.0%}"
        )
    for move, path, x, y in sorted(pvalues, reverse=True)[:5]:
        lines.append(f"p moved {move:.3f}: {path} {x:.4g} -> {y:.4g}")
    return lines


def jaccard(a: set[Any], b: set[Any]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def compare_neurons(run_a: Path, run_b: Path) -> list[str]:
    """The located sets' and the ladders' overlaps, as lines."""
    lines = []
    sets_a, sets_b = load_neuron_sets(run_a), load_neuron_sets(run_b)
    for dimension in sets_a.keys() & sets_b.keys():
        for pole in POLES:
            x, y = getattr(sets_a[dimension], pole), getattr(sets_b[dimension], pole)
            keys_a = set(zip(x.layer.tolist(), x.index.tolist(), strict=True))
            keys_b = set(zip(y.layer.tolist(), y.index.tolist(), strict=True))
            lines.append(
                f"located {dimension}.{pole}: {len(keys_a)} / {len(keys_b)} neurons, "
                f"Jaccard {jaccard(keys_a, keys_b):.3f}"
            )
    ladders_a, ladders_b = load_ladders(run_a), load_ladders(run_b)
    for dimension in ladders_a.keys() & ladders_b.keys():
        x, y = ladders_a[dimension], ladders_b[dimension]
        points = [
            f"{label} {jaccard(set(x.flat(k).tolist()), set(y.flat(k).tolist())):.3f}"
            for k, label in enumerate(x.labels[:-1])
        ]
        lines.append(f"ladder {dimension}: " + ", ".join(points))
    return sorted(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    args = parser.parse_args()
    verdicts = [
        json.loads((run / "verdict" / "verdict.json").read_text())
        for run in (args.run_a, args.run_b)
    ]
    for line in compare_verdicts(*verdicts) + compare_neurons(args.run_a, args.run_b):
        print(line)


if __name__ == "__main__":
    main()
