"""The statistics' CPU update: the compiled loop (:mod:`valuelocate.stats.kernels`, what
``NeuronStats.add`` runs on the CPU) against the torch formulation of the same update (the
accelerators' path, :func:`~valuelocate.stats.update.add_rows` and
:func:`~valuelocate.stats.update.hist_update`, run here on the CPU), on real activations.

    .venv/bin/python benchmarks/bench_update.py --repeats 15

Traces the ``act`` values of every layer of the embedded model for one batch of locating
prompts (8, as ``locate`` batches them; the padding not counted), then times adding each
layer's counted tokens to per-prompt sums and counting them into a histogram both ways (the two
branches of ``NeuronStats.add``), interleaved; checks that the histograms are equal and the
sums agree to float64 rounding. Prints the medians and their
ratio; run it alone (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor

from valuelocate.data import load_descriptions, load_prompts
from valuelocate.hooks import trace_neurons
from valuelocate.locating.jobs import build_jobs
from valuelocate.locating.options import LocateOptions
from valuelocate.models import load_model
from valuelocate.prompting import chat_inputs
from valuelocate.stats.constants import HIST_DTYPE
from valuelocate.stats.kernels import add_tokens
from valuelocate.stats.moments import OpenBatch
from valuelocate.stats.update import Workspace, add_rows, hist_update

BIN_WIDTH = 0.01
BINS = 301

Update = Callable[[OpenBatch, Tensor, Tensor, Tensor], None]


def run(
    layers: list[tuple[Tensor, Tensor]], batch: int, update: Update
) -> tuple[float, list[tuple[Tensor, Tensor]]]:
    """Seconds to update every layer once, and each layer's (sums, histogram)."""
    neurons = layers[0][0].shape[-1]
    results = []
    start = time.perf_counter()
    for values, keep in layers:
        opened = OpenBatch(
            torch.zeros(neurons, dtype=torch.float64),
            torch.zeros(batch, neurons, dtype=torch.float64),
            None,
            torch.zeros(batch, dtype=torch.int64),
        )
        hist = torch.zeros(neurons * BINS, dtype=HIST_DTYPE)
        update(opened, values, keep, hist)
        results.append((opened.total, hist))
    return time.perf_counter() - start, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    lm = load_model(args.model)
    options = LocateOptions(dimensions=("conservation",), prompts_per_pole=args.batch)
    job = build_jobs(options, load_prompts(split="search"), load_descriptions())[0]
    inputs = chat_inputs(lm.tokenizer, list(job.texts))
    layers: list[tuple[Tensor, Tensor]] = []  # per layer: [batch * seq, neurons], [batch * seq]

    def keep_layer(layer: int, values: Tensor, mask: Tensor) -> None:
        layers.append((values.reshape(-1, values.shape[-1]).clone(), mask.reshape(-1).clone()))

    with torch.no_grad(), trace_neurons(lm.model, keep_layer, scope="all"):
        lm.model(**inputs)
    seq = inputs["input_ids"].shape[1]
    tokens, neurons = layers[0][0].shape
    counted = int(layers[0][1].sum())
    print(f"{len(layers)} layers x {neurons} neurons, {counted} of {tokens} tokens counted")
    work = Workspace(neurons, BINS)

    def torch_update(opened: OpenBatch, values: Tensor, keep: Tensor, hist: Tensor) -> None:
        add_rows(opened, values, keep, args.batch)
        hist.scatter_add_(0, *hist_update(values, keep, BIN_WIDTH, work))

    def compiled(opened: OpenBatch, values: Tensor, keep: Tensor, hist: Tensor) -> None:
        picked = keep.nonzero().squeeze(1)
        add_tokens(opened, values, picked, picked // seq, hist, BIN_WIDTH, BINS)

    variants = {"torch": torch_update, "compiled": compiled}
    times: dict[str, list[float]] = {name: [] for name in variants}
    results = {}
    for fn in variants.values():
        run(layers, args.batch, fn)  # warm-up (and the loop's compilation)
    for _ in range(args.repeats):
        for name, fn in variants.items():
            seconds, results[name] = run(layers, args.batch, fn)
            times[name].append(seconds)
    for (sums_a, hist_a), (sums_b, hist_b) in zip(
        results["torch"], results["compiled"], strict=True
    ):
        if not torch.equal(hist_a, hist_b):
            raise SystemExit("the two updates count different histograms")
        torch.testing.assert_close(sums_a, sums_b, rtol=1e-12, atol=1e-9)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, median in medians.items():
        print(f"{name:9s} {median * 1e3:8.1f} ms for all layers (median of {args.repeats})")
    ratio = medians["compiled"] / medians["torch"]
    print(f"compiled / torch: {ratio:.3f} (histograms equal, sums within float64 rounding)")


if __name__ == "__main__":
    main()
