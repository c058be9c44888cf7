"""Throughput of locating (generated tokens counted per second) with 1 and 2 processes.

Each configuration is launched with ``torchrun --standalone`` (gloo on the CPU; one process
runs without it). Every rank loads the model untimed, waits at a barrier, then times
:func:`valuelocate.locating.locate` to the end of its last collective; rank 0 reports the tokens
counted over all poles (the statistics' ``n``) divided by that time. Threads: the machine's
cores are shared evenly, ``OMP_NUM_THREADS = cores // processes`` (on 2 cores: 2 threads for
one process, 1 thread each for two), so both configurations use the whole machine;
``--threads-per-proc`` overrides it. The median
of ``--repeats`` runs is reported per configuration.

    .venv/bin/python benchmarks/bench_throughput.py --model default --procs 1 2 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _worker(args: argparse.Namespace) -> None:
    """One rank of one timed run (runs under torchrun, or alone)."""
    import torch

    from valuelocate.locating import LocateOptions, locate
    from valuelocate.locating.distributed import process_group
    from valuelocate.models import load_model

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    options = LocateOptions(
        model=args.model,
        dimensions=(args.dimension,),
        prompts_per_pole=args.prompts_per_pole,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        checkpoint_seconds=1e9,
    )
    with process_group() as shard:
        lm = load_model(args.model)
        shard.barrier()
        start = time.perf_counter()
        result = locate(options, args.out, lm=lm, shard=shard)
        seconds = time.perf_counter() - start
        if shard.is_main:
            tokens = sum(int(stats.n[0]) for stats in result.stats.values())
            print(json.dumps({"tokens": tokens, "seconds": seconds}), flush=True)


def _launch(args: argparse.Namespace, procs: int, out: Path) -> dict[str, float]:
    cores = os.cpu_count() or 1
    threads = args.threads_per_proc or max(1, cores // procs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
    worker = [
        __file__, "--worker", "--out", str(out), "--model", args.model,
        "--dimension", args.dimension, "--prompts-per-pole", str(args.prompts_per_pole),
        "--max-new-tokens", str(args.max_new_tokens), "--batch-size", str(args.batch_size),
    ]  # fmt: skip
    if procs == 1:
        cmd = [sys.executable, *worker]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        cmd += ["--nproc-per-node", str(procs), *worker]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    return json.loads(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--dimension", default="conservation")
    parser.add_argument("--prompts-per-pole", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads-per-proc", type=int, default=0, help="OMP threads per process (0: cores // N)"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):  # interleaved, so noise hits every configuration
            for procs in args.procs:
                run = _launch(args, procs, Path(tmp) / f"p{procs}-r{repeat}")
                rate = run["tokens"] / run["seconds"]
                results.setdefault(procs, []).append({**run, "tokens_per_s": rate})
                print(f"procs={procs} repeat={repeat}: {run['tokens']} tokens in "
                      f"{run['seconds']:.1f} s = {rate:.1f} tok/s", flush=True)  # fmt: skip
    summary = {
        str(p): {
            "median_tokens_per_s": statistics.median(r["tokens_per_s"] for r in runs),
            "tokens": runs[0]["tokens"],
            "runs": len(runs),
        }
        for p, runs in results.items()
    }
    print(json.dumps({"cores": os.cpu_count(), "args": vars(args), "results": summary}, indent=2))


if __name__ == "__main__":
    main()
