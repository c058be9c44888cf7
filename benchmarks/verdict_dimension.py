"""The main job's locate and verdict for one dimension (or ``all``), at settings small enough
for a large model on a CPU, with the A/B choice reading on; timed (docs/experiment.md).

    PYTHONPATH=src python benchmarks/verdict_dimension.py qwen2.5-coder-1.5b RUN \\
        openness_to_change --items 40 --random-sets 6 --neutral-texts 4

With ``--main-job`` the verdict takes the main job's own defaults for the model
(``RunOptions(model=...).verdict_options()``: every test item, random set and neutral text,
A/B reading as the main job sets it) instead of the small settings; with ``all`` it judges
every dimension, with Holm's correction across them (Gemma-3-270M in docs/experiment.md):

    PYTHONPATH=src python benchmarks/verdict_dimension.py gemma-3-270m RUN all --main-job

Locates only those dimensions (``RunOptions(model=...)``'s locate defaults; resumed when RUN
exists), then runs ``run_verdict`` on them without the study's replication row. Prints each
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
    parser.add_argument("dimension", help="a dimension's key, or 'all'")
    parser.add_argument("--items", type=int, default=40, help="test forced-choice items")
    parser.add_argument("--random-sets", type=int, default=6)
    parser.add_argument("--neutral-texts", type=int, default=4)
    parser.add_argument("--agreement-items", type=int, default=8)
    parser.add_argument(
        "--main-job",
        action="store_true",
        help="the main job's verdict defaults for the model instead of the settings above",
    )
    args = parser.parse_args()
    start = time.time()

    def say(line: str, *_: object) -> None:
        print(f"[{time.time() - start:7.1f}s] {line}", flush=True)

    lm = load_model(args.model)
    say("loaded")
    say(measure_machine(lm).line())
    run_options = RunOptions(model=args.model)
    if args.main_job:
        options = dataclasses.replace(run_options.verdict_options(), study_rule=False)
    else:
        options = VerdictOptions(
            verdict_items=args.items,
            random_sets=args.random_sets,
            neutral_texts=args.neutral_texts,
            agreement_items=args.agreement_items,
            study_rule=False,
            choice_reading=True,
        )
    located = run_options.locate_options()
    dimensions = located.dimensions if args.dimension == "all" else (args.dimension,)
    say(f"options {options}")
    if not (args.run / "summary.json").is_file():
        locate(
            dataclasses.replace(located, dimensions=tuple(dimensions)),
            args.run,
            lm=lm,
            resume=args.run.exists(),
        )
        say("located")
    verdict = run_verdict(
        args.run, lm=lm, options=options, dimensions=list(dimensions), progress=say
    )
    say("verdict done")
    print(json.dumps(verdict.summary))


if __name__ == "__main__":
    main()
