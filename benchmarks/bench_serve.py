"""Throughput and latency of `valuelocate serve`, steered vs unsteered, at 1, 4 and 16 clients.

Usage:
    PYTHONPATH=src python benchmarks/bench_serve.py [--model default] [--neurons RUN_DIR]
        [--clients 1 4 16] [--requests 2] [--max-tokens 32] [--repeats 3]
        [--configs default located dynamic none] [--threads N] [--ignore-eos]
        [--tie-margin M] [--prompts situations|everyday]

One server runs in this process on a free loopback port. Each configuration of ``--configs``
is a steering rule and the dimensions the steered clients ask for:

- ``default``: the run's default rule (``mean-diff`` on a run with a verdict: its saved edits,
  whatever their size), every dimension;
- ``located``: ``mean-diff`` on the dimensions whose verdict edit is a sparse located set
  (under 10% of its layers' neurons; skipped when there is none or no verdict);
- ``dynamic``: the study's rule on the run's neuron sets;
- ``none``: no steering on either side (an A/A control: how far the ratio scatters when
  both sides do the same work);
- ``RULE`` or ``RULE:dim1,dim2``: that rule, on those dimensions (default all).

For each configuration, number of clients and repeat, the unsteered and the steered rounds
alternate (so both see the same machine load); each client sends ``--requests`` chat requests
one after the other (greedy, ``--max-tokens`` tokens). With ``--prompts situations`` (the
default) every request of a repeat sends its own ValueInsight situational prompt, and each
repeat new ones (the steered and the unsteered round of a repeat the same ones): a round then
meets near ties at the rate real traffic does, on both sides. ``--prompts everyday`` cycles
through eight short prompts (the benchmark before 2026-12-06): the unsteered side then decodes
8 distinct answers a round and the steered side up to 32 (each prompt under several steerings),
so the near ties of a few answers, repeated every round, decide the ratio. Steered
clients each ask for another dimension and sign at size 1. Reported per configuration and
number of clients: the medians over repeats of throughput (generated tokens per wall second)
and of the median request latency, the steered/unsteered throughput ratio, the same ratio
pooled over every round (all tokens over all seconds: what rare events such as near-tie re-runs
cost sustained serving, which a median of rounds leaves out), and the same ratio
counted in the process's CPU seconds (tokens per CPU second), which other processes' load
disturbs much less than wall time (the process holds the clients too; their share is the same
in both rounds), the median tokens generated per round, the near-tie re-runs (solo
generations) summed over each side's rounds and the mean seconds they took a round (the
exactness guarantee's price: the batch's other rows wait meanwhile). Without ``--neurons`` a
small neuron run is located first (a minute or two).

``--ignore-eos`` sends vLLM's ``ignore_eos`` field with every request: each answer runs to
``--max-tokens`` whatever its stop token, so both sides generate the same number of tokens in
batches of the same rows, and the ratio is the steering's own cost. Without it, a steered
answer that ends sooner (or later) than the unsteered one changes the work of its round.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path

import openai
import torch
from serve_setup import PROMPTS, row_values, situation_texts, small_run

from valuelocate.models import load_model
from valuelocate.serve import build_server, running_server
from valuelocate.serve.steering import SteeringCatalog


def one_round(
    base_url: str,
    name: str,
    clients: int,
    requests: int,
    max_tokens: int,
    dims: list[str],
    steered: bool,
    rule: str | None = None,
    ignore_eos: bool = False,
    texts: list[str] | None = None,
) -> tuple[float, float, float, float]:
    """(tokens per wall second, median latency in seconds, tokens per process CPU second,
    tokens generated) of one round; client ``i``'s ``k``-th request sends
    ``texts[i * requests + k]`` (default: the everyday prompts in turn)."""
    if texts is None:
        texts = [PROMPTS[(i + k) % len(PROMPTS)] for i in range(clients) for k in range(requests)]
    latencies: list[float] = []
    tokens = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        api = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=600)
        body: dict[str, object] = {"ignore_eos": True} if ignore_eos else {}
        if steered and dims:
            body |= {"values": row_values(i, dims)} | ({"rule": rule} if rule else {})
        barrier.wait()
        for k in range(requests):
            start = time.perf_counter()
            reply = api.chat.completions.create(
                model=name,
                messages=[{"role": "user", "content": texts[i * requests + k]}],
                max_tokens=max_tokens,
                temperature=0,
                extra_body=body or None,
            )
            with lock:
                latencies.append(time.perf_counter() - start)
                tokens[0] += reply.usage.completion_tokens if reply.usage else 0

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start, cpu = time.perf_counter(), time.process_time()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return tokens[0] / wall, statistics.median(latencies), tokens[0] / cpu, tokens[0]


def configurations(names: list[str], catalog: SteeringCatalog) -> list[tuple[str, str, list[str]]]:
    """``(label, rule, dimensions)`` per name of ``--configs`` (see the module docstring)."""
    dims = list(catalog.sets)
    out = []
    for name in names:
        if name == "default":
            out.append((f"default ({catalog.default_rule})", catalog.default_rule, dims))
        elif name == "none":
            out.append(("none (A/A: both sides unsteered)", "", []))
        elif name == "located":
            sparse = []
            for dim in dims:
                found = catalog.verdict_edits.get((dim, "affirm", False))
                if found is None:
                    continue
                edit, _ = found
                total = len(edit.counts()) * catalog.sets[dim].affirm.shape[1]
                if sum(edit.counts().values()) < 0.1 * total:
                    sparse.append(dim)
            if sparse:
                out.append(("located sets (mean-diff)", "mean-diff", sparse))
            else:
                print("no sparse located set in this run's verdict: `located` skipped")
        else:
            rule, _, chosen = name.partition(":")
            out.append((name, rule, chosen.split(",") if chosen else dims))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--neurons", type=Path, default=None)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument(
        "--tie-margin", type=float, default=1e-3, help="the server's --tie-margin (0: no re-runs)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["default", "located", "dynamic", "none"],
        help="steering configurations: default, located, dynamic, none, RULE[:dim1,dim2]",
    )
    parser.add_argument(
        "--ignore-eos", action="store_true", help="every answer runs to --max-tokens"
    )
    parser.add_argument(
        "--prompts",
        choices=["situations", "everyday"],
        default="situations",
        help="a distinct situational prompt per request (default) or eight everyday ones",
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    lm = load_model(args.model)
    neurons = args.neurons
    if neurons is None:
        t0 = time.perf_counter()
        neurons = small_run(lm, args.model, "bench-serve-")
        print(f"located a small run in {time.perf_counter() - t0:.0f} s: {neurons}")
    parts = build_server(
        lm, neurons, name="bench", max_batch=args.max_batch, max_queue=256,
        tie_margin=args.tie_margin,
    )  # fmt: skip
    configs = configurations(args.configs, parts.engine.catalog)
    rows = []
    with running_server(parts) as server:
        one_round(server.base_url, "bench", 1, 1, 4, list(parts.engine.catalog.sets), False)
        for label, rule, dims in configs:
            for clients in args.clients:
                results: dict[bool, list[tuple[float, ...]]] = {False: [], True: []}
                for repeat in range(args.repeats):
                    n = clients * args.requests
                    texts = situation_texts(n, repeat) if args.prompts == "situations" else None
                    for steered in (False, True):
                        # Near-tie re-runs are solo generations: count them per round, so that
                        # a ratio can be told apart from the re-runs that fell in its rounds.
                        stats = server.engine.stats
                        before = (stats.solo_retries, stats.solo_seconds)
                        results[steered].append(
                            one_round(
                                server.base_url,
                                "bench",
                                clients,
                                args.requests,
                                args.max_tokens,
                                dims,
                                steered,
                                rule,
                                args.ignore_eos,
                                texts,
                            )
                            + (stats.solo_retries - before[0], stats.solo_seconds - before[1])
                        )
                # Medians of the rounds, then what a rare event (a near-tie re-run) weighs in
                # sustained serving: the re-runs' mean seconds a round, and the throughput
                # pooled over every round (all their tokens over all their seconds).
                med = {
                    s: tuple(statistics.median(r[i] for r in results[s]) for i in range(4))
                    + (sum(r[4] for r in results[s]), statistics.mean(r[5] for r in results[s]))
                    + (sum(r[3] for r in results[s]) / sum(r[3] / r[0] for r in results[s]),)
                    for s in results
                }
                rows.append((label, ",".join(dims) or "-", clients, med[False], med[True]))
                pairs = zip(results[False], results[True], strict=True)
                ratios = " ".join(f"{steered[0] / plain[0]:.3f}" for plain, steered in pairs)
                print(f"{label}, clients {clients}: done (ratio per repeat {ratios})", flush=True)
        stats = server.engine.stats
    print(
        f"\nmodel {args.model}, torch threads {torch.get_num_threads()}, "
        f"{args.max_tokens} tokens/request{' (ignore_eos)' if args.ignore_eos else ''}, "
        f"tie margin {args.tie_margin:g}, {args.prompts} prompts, "
        f"{args.requests} requests/"
        f"client, median of {args.repeats} repeats; largest batch {stats.largest_batch}, "
        f"near-tie solo retries {stats.solo_retries}\n"
    )
    print(
        "| steering | dimensions | clients | unsteered tok/s | steered tok/s | "
        "steered/unsteered | pooled | same, in CPU time | unsteered latency s | "
        "steered latency s | tokens per round, unsteered / steered | near-tie re-runs, "
        "unsteered / steered | mean seconds of re-runs per round, unsteered / steered |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, dims_text, clients, plain, steer in rows:
        print(
            f"| {label} | {dims_text} | {clients} | {plain[0]:.1f} | {steer[0]:.1f} | "
            f"{steer[0] / plain[0]:.3f} | {steer[6] / plain[6]:.3f} | "
            f"{steer[2] / plain[2]:.3f} | {plain[1]:.2f} | "
            f"{steer[1]:.2f} | {plain[3]:.0f} / {steer[3]:.0f} | {plain[4]:.0f} / {steer[4]:.0f} | "
            f"{plain[5]:.2f} / {steer[5]:.2f} |"
        )


if __name__ == "__main__":
    main()
