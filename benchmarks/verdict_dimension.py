"""The main job's locate and verdict for one dimension, at settings small enough for a large
model on a CPU, with the A/B choice reading on; timed (docs/experiment.md, Qwen2.5-Coder).

    PYTHONPATH=src python benchmarks/verdict_dimension.py qwen2.5-coder-1.5b RUN \\
        openness_to_change --items 40 --random-sets 6 --neutral-texts 4

Locates only that dimension (``RunOptions(model=...)``'s locate defaults; resumed when RUN
exists), then runs ``run_verdict`` on it without the study's replication row. Prints each
stage with the seconds since start; the verdict lands in ``RUN/verdict/verdict.json`` and
``items.jsonl`` as in the main job.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from valuelocate.comparison.verdict import VerdictOptions, run_verdict
from valuelocate.locating.pipeline import locate
from valuelocate.machine import measure_machine
from valuelocate.models import load_model
from valuelocate.pipeline import RunOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("run", type=Path)
    parser.add_argument("dimension")
    parser.add_argument("--items", type=int, default=40, help="test forced-choice items")
    parser.add_argument("--random-sets", type=int, default=6)
    parser.add_argument("--neutral-texts", type=int, default=4)
    parser.add_argument("--agreement-items", type=int, default=8)
    args = parser.parse_args()
    start = time.time()

    def say(line: str, *_: object) -> None:
        print(f"[{time.time() - start:7.1f}s] {line}", flush=True)

    lm = load_model(args.model)
    say("loaded")
    say(measure_machine(lm).line())
    options = VerdictOptions(
        verdict_items=args.items,
        random_sets=args.random_sets,
        neutral_texts=args.neutral_texts,
        agreement_items=args.agreement_items,
        study_rule=False,
        choice_reading=True,
    )
    say(f"options {options}")
    if not (args.run / "summary.json").is_file():
        located = RunOptions(model=args.model).locate_options()
        locate(
            dataclasses.replace(located, dimensions=(args.dimension,)),
            args.run,
            lm=lm,
            resume=args.run.exists(),
        )
        say("located")
    verdict = run_verdict(
        args.run, lm=lm, options=options, dimensions=[args.dimension], progress=say
    )
    say("verdict done")
    print(json.dumps(verdict.summary))


if __name__ == "__main__":
    main()
