"""Where a steered batch spends its time: the server's decoding loop under ``torch.profiler``.

Usage:
    PYTHONPATH=src python benchmarks/profile_serve.py --model default --neurons RUN_DIR
        [--rule mean-diff] [--dims d1 d2] [--rows 16] [--max-tokens 32] [--repeats 3]
        [--threads 1] [--top 15] [--paths reference fast]

Runs the engine's decoding loop (:func:`valuelocate.serve.decode.decode_batch`, the code the
server runs for a batch, without HTTP) on ``--rows`` chat prompts, unsteered and steered in
turns (each steered row asks for another dimension and sign at size 1, as in bench_serve.py),
by each path of ``--paths`` (``fast``: the server's, :mod:`valuelocate.steering.rows`;
``reference``: the per-row ``EditStack`` through ``edit_neurons``, what the server ran before),
all interleaved so that every measurement sees the same machine load. Prints, per path: the
median wall time and process CPU time of each over ``--repeats`` and their ratios (CPU time
is less disturbed by other processes on a shared machine), the share of the steered batch's
wall time spent inside the steering's hooks (timed around every hook call: the most direct
measure of what steering costs, and the least disturbed by the machine's load, since both
parts of the share see it), then the top entries of
``torch.profiler``'s table (self CPU time) for one steered batch. ``tie_margin`` is 0, so no
row leaves the batch: every side decodes the same number of tokens.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from serve_setup import prompt_ids, row_values
from torch import nn
from torch.profiler import ProfilerActivity, profile

from valuelocate.models import load_model
from valuelocate.prompting import stop_token_ids
from valuelocate.serve.decode import decode_batch
from valuelocate.serve.row import Row
from valuelocate.serve.server import build_catalog

HOOK_SECONDS = [0.0]


@contextmanager
def timed_hooks() -> Iterator[None]:
    """Time every forward (pre-)hook registered while the block runs (the steering's: the
    model has none of its own), adding their wall seconds to ``HOOK_SECONDS``."""
    originals = nn.Module.register_forward_hook, nn.Module.register_forward_pre_hook

    def wrap(register: Any) -> Any:
        def registering(module: nn.Module, hook: Any, **kwargs: Any) -> Any:
            def timed(*args: Any, **kw: Any) -> Any:
                start = time.perf_counter()
                try:
                    return hook(*args, **kw)
                finally:
                    HOOK_SECONDS[0] += time.perf_counter() - start

            return register(module, timed, **kwargs)

        return registering

    nn.Module.register_forward_hook = wrap(originals[0])  # type: ignore[method-assign]
    nn.Module.register_forward_pre_hook = wrap(originals[1])  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.register_forward_hook = originals[0]  # type: ignore[method-assign]
        nn.Module.register_forward_pre_hook = originals[1]  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--neurons", type=Path, required=True)
    parser.add_argument("--rule", default=None, help="default: the run's")
    parser.add_argument("--dims", nargs="*", default=None, help="default: every dimension")
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--paths", nargs="+", default=["reference", "fast"])
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    lm = load_model(args.model)
    catalog = build_catalog(lm, args.neurons, name="p", max_gamma=4.0, alias_gamma=1.0)
    dims = args.dims or list(catalog.sets)
    stops = stop_token_ids(lm.model, lm.tokenizer)
    prompts = prompt_ids(lm, args.rows)

    def rows(steered: bool) -> list[Row]:
        out = []
        for i, ids in enumerate(prompts):
            values = row_values(i, dims)
            steering = catalog.steering("p", values if steered else None, args.rule, None, None)
            out.append(
                Row(ids=ids, edit=catalog.build(steering), scope=steering.scope,
                    max_tokens=args.max_tokens)
            )  # fmt: skip
        return out

    def run(steered: bool, path: str) -> tuple[float, float, float]:
        """(wall seconds, process CPU seconds, seconds inside the steering hooks) of one
        batch."""
        batch = rows(steered)
        start, cpu, hooked = time.perf_counter(), time.process_time(), HOOK_SECONDS[0]
        with timed_hooks():
            decode_batch(
                lm, batch, stop_ids=stops, site=catalog.site, tie_margin=0.0, fast=path == "fast"
            )
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        return wall, cpu, HOOK_SECONDS[0] - hooked

    run(False, "fast")  # warm-up
    times: dict[tuple[str, bool], list[tuple[float, float, float]]] = {}
    for _ in range(args.repeats):
        for path in args.paths:
            for steered in (False, True):
                times.setdefault((path, steered), []).append(run(steered, path))
    rule = args.rule or catalog.default_rule
    print(
        f"model {args.model}, rule {rule}, dims {','.join(dims)}, {args.rows} rows x "
        f"{args.max_tokens} tokens, torch threads {torch.get_num_threads()}, median of "
        f"{args.repeats}"
    )
    for path in args.paths:
        plain, steered = (
            [statistics.median(t[i] for t in times[(path, s)]) for i in (0, 1)]
            for s in (False, True)
        )
        share = statistics.median(t[2] / t[0] for t in times[(path, True)])
        plain_share = statistics.median(t[2] / t[0] for t in times[(path, False)])
        print(
            f"  {path}: wall unsteered {plain[0]:.3f} s, steered {steered[0]:.3f} s, "
            f"steered/unsteered throughput {plain[0] / steered[0]:.3f}; CPU unsteered "
            f"{plain[1]:.3f} s, steered {steered[1]:.3f} s, ratio {plain[1] / steered[1]:.3f}; "
            f"share of the steered batch's wall time inside the steering hooks "
            f"{100 * share:.2f}% (unsteered {100 * plain_share:.2f}%)"
        )
    for path in args.paths:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            run(True, path)
        print(f"\ntop {args.top} by self CPU time, one steered batch, {path} path:")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))


if __name__ == "__main__":
    main()
