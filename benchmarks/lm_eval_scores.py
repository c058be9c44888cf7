"""The forced-choice lm-evaluation-harness task through `valuelocate serve`, per dimension,
unsteered and steered toward each pole by a run's verdict edits (docs/serve.md).

Usage:
    PYTHONPATH=src python benchmarks/lm_eval_scores.py RUN_DIR [--model default]
        [--dimensions conservation ...] [--concurrent 4]

Writes the task folder (`valuelocate lm-eval-task`, test split) for the model's tokenizer,
starts one server on a free loopback port with the run, and runs `lm_eval` (local-completions)
once per dimension unsteered and once per pole with the model alias `MODEL+DIM:POLE` (the
run's default rule at size 1: the verdict's calibrated edit). Prints a markdown table of `acc`
and `dll` and whether the steered `dll` moved the predicted way.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from valuelocate.data.lm_eval_task import run_lm_eval, task_name, write_lm_eval_task
from valuelocate.data.schema import DIMENSIONS
from valuelocate.models import load_model
from valuelocate.serve import build_server, running_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--model", default="default")
    parser.add_argument("--dimensions", nargs="+", default=list(DIMENSIONS))
    parser.add_argument("--concurrent", type=int, default=4)
    args = parser.parse_args()
    began = time.monotonic()
    lm = load_model(args.model)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tasks = write_lm_eval_task(
            Path(tmp) / "tasks",
            tokenizer=lm.tokenizer,
            tokenizer_name=args.model,
            dimensions=args.dimensions,
        )
        tokenizer = Path(tmp) / "tokenizer"  # the harness tokenizes the requests itself
        lm.tokenizer.save_pretrained(tokenizer)
        with running_server(build_server(lm, args.run_dir, name=args.model)) as server:
            for dim in args.dimensions:
                scores = {}
                for pole in ("", "affirm", "oppose"):
                    alias = f"{args.model}+{dim}:{pole}" if pole else args.model
                    out = Path(tmp) / f"{dim}-{pole or 'none'}"
                    result = run_lm_eval(
                        server.base_url, alias, tasks, task_name(dim), out, tokenizer,
                        concurrent=args.concurrent,
                    )  # fmt: skip
                    acc, dll = result["acc,none"], result["dll,none"]
                    scores[pole or "none"] = (acc, dll)
                    print(f"[{time.monotonic() - began:6.0f} s] {dim} {pole or 'unsteered'}: "
                          f"acc {acc:.3f} dll {dll:+.4f}", flush=True)  # fmt: skip
                rows.append((dim, scores))
    print("\n| dimension | acc none / affirm / oppose | dll none | dll affirm | dll oppose | "
          "moves the predicted way |")  # fmt: skip
    print("|---|---|---:|---:|---:|---|")
    for dim, s in rows:
        accs = " / ".join(f"{s[k][0]:.2f}" for k in ("none", "affirm", "oppose"))
        moved = s["affirm"][1] > s["none"][1] > s["oppose"][1]
        print(f"| {dim} | {accs} | {s['none'][1]:+.4f} | {s['affirm'][1]:+.4f} | "
              f"{s['oppose'][1]:+.4f} | {'yes' if moved else 'no'} |")  # fmt: skip
    print(f"\n{time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
