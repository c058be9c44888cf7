"""What a batch whose rows end at different times costs: the server's decoding loop alone.

Usage:
    PYTHONPATH=src python benchmarks/bench_decode.py --model default --neurons RUN_DIR
        [--rows 16] [--budgets 8 16 32 64] [--repeats 3] [--threads N] [--json OUT]

Runs :func:`valuelocate.serve.decode.decode_batch` (the code the server runs for a batch,
without HTTP) on ``--rows`` chat prompts whose token budgets cycle through ``--budgets``,
unsteered and steered (each row another dimension and sign at size 1, the run's default rule,
as bench_serve.py), in turns. Prints per side the median wall time, the generated tokens per
second, and the rows the model computed over all forward calls (a pre-hook counts each call's
batch rows) beside the rows a batch that keeps every row to its longest one computes
(``rows x forward calls``). Run it with ``PYTHONPATH`` at two checkouts to compare them: it
uses only the loop's public interface.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from serve_setup import prompt_ids, row_values

from valuelocate.models import load_model
from valuelocate.prompting import stop_token_ids
from valuelocate.serve.decode import decode_batch
from valuelocate.serve.row import Row
from valuelocate.serve.server import build_catalog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--neurons", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--budgets", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    lm = load_model(args.model)
    catalog = build_catalog(lm, args.neurons, name="p", max_gamma=4.0, alias_gamma=1.0)
    dims = list(catalog.sets)
    stops = stop_token_ids(lm.model, lm.tokenizer)
    prompts = prompt_ids(lm, args.rows)
    counted = [0, 0]  # forward calls, rows computed

    def count(_module: object, _args: object, kwargs: dict[str, torch.Tensor]) -> None:
        counted[0] += 1
        counted[1] += int(kwargs["input_ids"].shape[0])

    lm.model.register_forward_pre_hook(count, with_kwargs=True)

    def run(steered: bool) -> dict[str, float]:
        batch = []
        for i, ids in enumerate(prompts):
            values = row_values(i, dims)
            steering = catalog.steering("p", values if steered else None, None, None, None)
            batch.append(
                Row(ids=ids, edit=catalog.build(steering), scope=steering.scope,
                    max_tokens=args.budgets[i % len(args.budgets)])
            )  # fmt: skip
        tokens = [0]
        for row in batch:
            row.on_token = lambda e: tokens.__setitem__(0, tokens[0] + (e.token_id >= 0))
        counted[:] = [0, 0]
        start = time.perf_counter()
        decode_batch(lm, batch, stop_ids=stops, site=catalog.site)
        wall = time.perf_counter() - start
        return {
            "wall": wall, "tokens": tokens[0], "calls": counted[0], "rows": counted[1],
            "solo_retries": sum(r.retry_solo for r in batch),
        }  # fmt: skip

    run(False)  # warm-up
    results: dict[str, list[dict[str, float]]] = {"unsteered": [], "steered": []}
    for _ in range(args.repeats):
        for side in results:
            results[side].append(run(side == "steered"))
    summary = {}
    for side, runs in results.items():
        wall = statistics.median(r["wall"] for r in runs)
        last = runs[-1]
        summary[side] = {
            "wall_s": wall, "tokens": last["tokens"], "tokens_per_s": last["tokens"] / wall,
            "rows_computed": last["rows"], "rows_if_kept": args.rows * last["calls"],
            "solo_retries": last["solo_retries"],
        }  # fmt: skip
        print(
            f"{side}: {wall:.2f} s (median of {args.repeats}), {last['tokens']} tokens, "
            f"{last['tokens'] / wall:.1f} tokens/s; rows computed {last['rows']} "
            f"(keeping every row: {args.rows * last['calls']}); near-tie rows "
            f"{last['solo_retries']}"
        )
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"neurons": str(args.neurons),
                                                                "json": str(args.json)},
                                         "summary": summary}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
