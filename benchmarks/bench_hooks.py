"""Overhead of the neuron hooks on a forward pass of a model (default: the embedded one).

Reports, from one run, the median over repeats of: plain forward; forward under
``trace_neurons`` with a no-op callback (the hook machinery alone); forward under
``capture_activations`` (keeps every value); forward under an identity ``edit_neurons``.
Ratios are against the plain forward measured in the same run, interleaved, so machine noise
hits all variants alike.

    .venv/bin/python benchmarks/bench_hooks.py --batch 16 --seq 42 --repeats 15
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch

from valuelocate.architectures import model_shape
from valuelocate.hooks import capture_activations, edit_neurons, identity_edit, trace_neurons
from valuelocate.models import load_model


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()

    lm = load_model(args.model, device=args.device)
    model = lm.model
    shape = model_shape(model)
    gen = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    ids = torch.randint(10, vocab, (args.batch, args.seq), generator=gen).to(args.device)
    mask = torch.ones_like(ids)
    mask[: args.batch // 2, : args.seq // 4] = 0  # left padding on half the rows
    batch = {"input_ids": ids, "attention_mask": mask}
    everything = {layer: list(range(shape.neurons_per_layer)) for layer in range(shape.num_layers)}

    variants: dict[str, Callable[[], AbstractContextManager[object]]] = {
        "plain": nullcontext,
        "trace_noop": lambda: trace_neurons(model, lambda layer, values, mask: None),
        "capture_all": lambda: capture_activations(model),
        "identity_edit_all": lambda: edit_neurons(model, identity_edit(everything), scope="all"),
    }

    def forward() -> None:
        with torch.no_grad():
            model(**batch)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    times: dict[str, list[float]] = {name: [] for name in variants}
    for ctx in variants.values():  # warm-up
        with ctx():
            forward()
    for _ in range(args.repeats):
        for name, ctx in variants.items():
            with ctx():
                times[name].append(_time(forward))
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    result = {
        "model": args.model,
        "device": args.device,
        "batch": args.batch,
        "seq": args.seq,
        "repeats": args.repeats,
        "median_seconds": medians,
        "ratio_vs_plain": {name: medians[name] / medians["plain"] for name in medians},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{args.model} on {args.device}, batch {args.batch} x {args.seq} tokens, "
        f"median of {args.repeats}"
    )
    for name in variants:
        print(
            f"  {name:<18} {medians[name] * 1000:8.1f} ms   x{result['ratio_vs_plain'][name]:.3f}"
        )


if __name__ == "__main__":
    main()
