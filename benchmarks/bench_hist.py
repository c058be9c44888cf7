"""The CPU histogram update of the statistics, in the library's token-major layout against the
neuron-major layout it replaced, on real activations (one run, interleaved, median of repeats).

    .venv/bin/python benchmarks/bench_hist.py --repeats 15

Captures the ``act`` values of every layer of the embedded model for one batch of eight chat
prompts (its own, below: 329 tokens on SmolLM2), then times counting them into a layer histogram in
the accumulator's chunks both ways, and checks that both histograms are equal. Prints the
medians and their ratio; run it alone (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor

from valuelocate.architectures import model_shape
from valuelocate.hooks import capture_activations
from valuelocate.models import load_model
from valuelocate.prompting import chat_inputs
from valuelocate.stats.accumulator import _CHUNK_VALUES
from valuelocate.stats.update import Workspace, hist_add_gathered

BIN_WIDTH = 0.01
BINS = 301
PROMPTS = [
    "Describe a weekend that would make you happy.",
    "What should a city spend its budget on first?",
    "A friend asks you to lie for them. What do you do?",
    "How do you decide whether to take a new job abroad?",
    "What matters most when raising children?",
    "Your team wants to change a rule that has always worked. What do you say?",
    "Is it better to be admired or to be kind?",
    "Plan a holiday for someone who loves surprises.",
]


def neuron_major(hist: Tensor, x: Tensor, work: Workspace) -> None:
    """The replaced layout: bins computed as ``[neurons, tokens]`` (a transposed read), so
    that consecutive increments land in one neuron's row of bins."""
    tokens = x.shape[0]
    size = tokens * work.neurons
    y = work.buffer(x.device, "bins_t", size, torch.float32).view(work.neurons, tokens)
    torch.mul(x.t().to(torch.float32), 1.0 / BIN_WIDTH, out=y)
    y.ceil_().clamp_(0.0, work.hist_bins - 1).nan_to_num_(0.0)
    flat = work.buffer(x.device, "flat_t", size, torch.int64).view(work.neurons, tokens)
    flat.copy_(y)
    flat.add_(work.offsets(x.device)[:, None])
    hist.scatter_add_(0, flat.view(-1), work.ones(size, x.device))


Count = Callable[[Tensor, Tensor, Workspace], None]


def count(layers: list[Tensor], work: Workspace, fn: Count) -> tuple[float, list[Tensor]]:
    """Seconds to count every layer's tokens in the accumulator's chunks, and the histograms."""
    hists = [torch.zeros(work.neurons * BINS, dtype=torch.int32) for _ in layers]
    step = max(1, _CHUNK_VALUES // work.neurons)
    start = time.perf_counter()
    for hist, x in zip(hists, layers, strict=True):
        for first in range(0, x.shape[0], step):
            fn(hist, x[first : first + step], work)
    return time.perf_counter() - start, hists


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    lm = load_model(args.model)
    batch = chat_inputs(lm.tokenizer, PROMPTS)
    shape = model_shape(lm.model)
    num_layers, neurons = shape.num_layers, shape.neurons_per_layer
    with torch.no_grad(), capture_activations(lm.model) as captured:
        lm.model(**batch)
    layers = [captured.values(i) for i in range(num_layers)]  # [tokens, neurons] float32
    print(f"{num_layers} layers x {neurons} neurons, {layers[0].shape[0]} tokens per layer")
    work = Workspace(neurons, BINS)

    def token_major(hist: Tensor, x: Tensor, w: Workspace) -> None:
        hist_add_gathered(hist, x, BIN_WIDTH, w)

    times: dict[str, list[float]] = {"token-major": [], "neuron-major": []}
    for _ in range(args.repeats):
        new_s, new = count(layers, work, token_major)
        old_s, old = count(layers, work, neuron_major)
        times["token-major"].append(new_s)
        times["neuron-major"].append(old_s)
    if not all(torch.equal(a, b) for a, b in zip(new, old, strict=True)):
        raise SystemExit("the two layouts count different histograms")
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, median in medians.items():
        print(f"{name:13s} {median * 1e3:8.1f} ms for all layers (median of {args.repeats})")
    ratio = medians["token-major"] / medians["neuron-major"]
    print(f"token-major / neuron-major: {ratio:.3f} (histograms equal)")


if __name__ == "__main__":
    main()
