"""One dimension's calibration alone (``calibrate_ladder``: every ladder point's +/- edit, its
random sets and a sample of label shuffles searched to the budget), timed, with every batched
cost call counted (docs/benchmarks.md, "The calibration's search").

    PYTHONPATH=src python benchmarks/bench_calibration.py RUN openness_to_change

RUN: a finished main-job or locate run of the embedded model (its ladders). Prints the
machine index, the seconds, the vectors each pass measured and the calibrated costs' range
against the budget's window. It counts through ``VectorCost.__call__``, so it runs on older
checkouts too (``PYTHONPATH=OLD/src``) for a before/after in one session.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from valuelocate.artifacts.ladders import load_ladders
from valuelocate.comparison import cost as cost_module
from valuelocate.comparison.curve import DimensionReads, calibrate_ladder
from valuelocate.comparison.dimension import ladder_differences
from valuelocate.comparison.verdict import VerdictOptions
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.data.neutral import load_neutral_texts
from valuelocate.machine import measure_machine
from valuelocate.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("dimension")
    parser.add_argument("--model", default="default")
    args = parser.parse_args()
    lm = load_model(args.model)
    print("machine index:", measure_machine(lm))
    ladder = load_ladders(args.run)[args.dimension]
    search = load_forced_choice(dimension=args.dimension, split="search")
    diffs, _same = ladder_differences(lm, ladder, search, True)
    options = VerdictOptions()
    neutral = load_neutral_texts()[: options.neutral_texts]
    passes: list[int] = []
    measure = cost_module.VectorCost.__call__

    def counted(self: cost_module.VectorCost, vectors: torch.Tensor) -> torch.Tensor:
        passes.append(int(vectors.shape[0]))
        return measure(self, vectors)

    cost_module.VectorCost.__call__ = counted  # type: ignore[method-assign]
    began = time.monotonic()
    calibrated = calibrate_ladder(
        lm, DimensionReads(ladder, diffs, {}), neutral, budget=1.10, options=options
    )
    seconds = time.monotonic() - began
    costs = torch.cat(
        [torch.tensor([c["affirm"], c["oppose"]]) for c in calibrated.costs]
        + [c.float() for c in calibrated.null_costs]
    )
    low = math.exp(0.95 * math.log(1.10))
    print(f"seconds: {seconds:.1f}")
    print(f"cost calls (vectors each): {passes}; vectors measured: {sum(passes)}")
    print(
        f"calibrated costs {float(costs.min()):.4f}-{float(costs.max()):.4f} "
        f"(window {low:.4f}-1.1000); below the window: {int((costs < low).sum())} of "
        f"{costs.numel()}"
    )


if __name__ == "__main__":
    main()
