"""Throughput and latency of `valuelocate serve`, steered vs unsteered, at 1, 4 and 16 clients.

Usage:
    PYTHONPATH=src python benchmarks/bench_serve.py [--model default] [--neurons RUN_DIR]
        [--clients 1 4 16] [--requests 2] [--max-tokens 32] [--repeats 3] [--rule RULE]

One server runs in this process on a free loopback port. For each number of clients and each
repeat, the unsteered and the steered rounds alternate (so both see the same machine load);
each client sends ``--requests`` chat requests one after the other (greedy, ``--max-tokens``
tokens, different prompts per client). Steered clients each ask for a different dimension and
sign at gamma 1. Reported: median over repeats of throughput (generated tokens / wall second)
and of the median request latency, and steered/unsteered ratios. Without ``--neurons`` a small
neuron run is located first (a minute or two).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import openai
import torch

from valuelocate.locating import LocateOptions, locate
from valuelocate.models import load_model
from valuelocate.serve import build_server, running_server

PROMPTS = [
    "Tell me a short story about a cat.",
    "What should I do on a rainy day?",
    "Describe your favourite meal.",
    "How do I make friends in a new town?",
    "Why do people like music?",
    "What is a good way to learn to cook?",
    "Write two sentences about the sea.",
    "Should I help my neighbour move house?",
]


def one_round(
    base_url: str,
    name: str,
    clients: int,
    requests: int,
    max_tokens: int,
    dims: list[str],
    steered: bool,
    rule: str | None = None,
) -> tuple[float, float]:
    """(tokens per second, median latency in seconds) of one round."""
    latencies: list[float] = []
    tokens = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        api = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=600)
        values = {dims[i % len(dims)]: 1.0 if (i // len(dims)) % 2 == 0 else -1.0}
        body: dict[str, object] = {"values": values} | ({"rule": rule} if rule else {})
        barrier.wait()
        for k in range(requests):
            start = time.perf_counter()
            reply = api.chat.completions.create(
                model=name,
                messages=[{"role": "user", "content": PROMPTS[(i + k) % len(PROMPTS)]}],
                max_tokens=max_tokens,
                temperature=0,
                extra_body=body if steered else None,
            )
            with lock:
                latencies.append(time.perf_counter() - start)
                tokens[0] += reply.usage.completion_tokens if reply.usage else 0

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return tokens[0] / (time.perf_counter() - start), statistics.median(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--neurons", type=Path, default=None)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--rule", default=None, help="steering rule of the steered rounds (default: the run's)"
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    lm = load_model(args.model)
    neurons = args.neurons
    if neurons is None:
        neurons = Path(tempfile.mkdtemp(prefix="bench-serve-")) / "run"
        t0 = time.perf_counter()
        locate(
            LocateOptions(
                model=args.model,
                dimensions=("conservation", "self_enhancement"),
                prompts_per_pole=4,
                max_new_tokens=6,
                batch_size=4,
                checkpoint_seconds=0.0,
                method_params={"min_required": 10, "threshold": 0.6},
            ),
            neurons,
            lm=lm,
        )
        print(f"located a small run in {time.perf_counter() - t0:.0f} s: {neurons}")
    parts = build_server(lm, neurons, name="bench", max_batch=args.max_batch, max_queue=256)
    dims = list(parts.engine.catalog.sets)
    rows = []
    with running_server(parts) as server:
        one_round(server.base_url, "bench", 1, 1, 4, dims, False)  # warm-up
        for clients in args.clients:
            results: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
            for _ in range(args.repeats):
                for steered in (False, True):
                    results[steered].append(
                        one_round(
                            server.base_url,
                            "bench",
                            clients,
                            args.requests,
                            args.max_tokens,
                            dims,
                            steered,
                            args.rule,
                        )
                    )
            med = {
                s: (
                    statistics.median(r[0] for r in results[s]),
                    statistics.median(r[1] for r in results[s]),
                )
                for s in results
            }
            rows.append((clients, med[False], med[True]))
            print(f"clients {clients}: done", flush=True)
        stats = server.engine.stats
    print(
        f"\nmodel {args.model}, torch threads {torch.get_num_threads()}, "
        f"{args.max_tokens} tokens/request, {args.requests} requests/"
        f"client, median of {args.repeats} repeats; largest batch {stats.largest_batch}, "
        f"near-tie solo retries {stats.solo_retries}\n"
    )
    print(
        "| clients | unsteered tok/s | steered tok/s | steered/unsteered | "
        "unsteered latency s | steered latency s |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for clients, (plain_tps, plain_lat), (steer_tps, steer_lat) in rows:
        print(
            f"| {clients} | {plain_tps:.1f} | {steer_tps:.1f} | {steer_tps / plain_tps:.3f} | "
            f"{plain_lat:.2f} | {steer_lat:.2f} |"
        )


if __name__ == "__main__":
    main()
