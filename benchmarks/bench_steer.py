"""Generation under a steering edit vs the same generation without hooks.

Same prompts, greedy, same run, variants interleaved, median of repeats. The edit is the
study's dynamic rule on neuron sets read from a locate run (``--neurons RUN_DIR``), or, without
one, on a seeded random 2% of the neurons per pole (the cost depends on how many neurons are
edited, not on which).

    .venv/bin/python benchmarks/bench_steer.py --repeats 7 [--neurons runs/smol]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from valuelocate.architectures import model_shape
from valuelocate.artifacts import load_neuron_sets
from valuelocate.data import load_prompts
from valuelocate.hooks import edit_neurons
from valuelocate.models import load_model
from valuelocate.prompting import chat_inputs
from valuelocate.selection import NeuronSet, Selection
from valuelocate.steering.dynamic import steering_edit


def _random_selection(num_layers: int, neurons: int, share: float, seed: int) -> Selection:
    generator = torch.Generator().manual_seed(seed)
    total = num_layers * neurons
    flat = torch.randperm(total, generator=generator)[: 2 * int(share * total)]
    sets = []
    for pole, part in (("affirm", flat[::2]), ("oppose", flat[1::2])):
        part = part.sort().values
        k = part.numel()
        sets.append(
            NeuronSet(
                pole,  # type: ignore[arg-type]
                "random",
                {},
                (num_layers, neurons),
                part // neurons,
                part % neurons,
                torch.full((k,), 0.3, dtype=torch.float64),
                torch.full((k,), 0.5, dtype=torch.float64),
                torch.full((k,), 1.0, dtype=torch.float64),
                torch.zeros(k, dtype=torch.float64),
            )
        )
    return Selection(*sets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--neurons", default=None, help="a locate run directory")
    parser.add_argument("--dimension", default="conservation")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--gamma", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    lm = load_model(args.model, device=args.device)
    shape = model_shape(lm.model)
    if args.neurons:
        selection = load_neuron_sets(args.neurons, expect=shape)[args.dimension]
    else:
        selection = _random_selection(shape.num_layers, shape.neurons_per_layer, 0.02, 0)
    edit = steering_edit(selection, "affirm", args.gamma)
    prompts = [p.text for p in load_prompts(dimension=args.dimension, split="test")[: args.batch]]
    batch = {k: v.to(args.device) for k, v in chat_inputs(lm.tokenizer, prompts).items()}
    kwargs = dict(
        max_new_tokens=args.new_tokens,
        min_new_tokens=args.new_tokens,  # same work in both variants
        do_sample=False,
        pad_token_id=lm.tokenizer.pad_token_id,
    )

    def run(edited: bool) -> float:
        start = time.perf_counter()
        with torch.no_grad():
            if edited:
                with edit_neurons(lm.model, edit, scope="generated"):
                    lm.model.generate(**batch, **kwargs)
            else:
                lm.model.generate(**batch, **kwargs)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start

    run(False), run(True)  # warm-up
    plain, edited = [], []
    for _ in range(args.repeats):
        plain.append(run(False))
        edited.append(run(True))
    result = {
        "model": args.model,
        "device": args.device,
        "batch": args.batch,
        "new_tokens": args.new_tokens,
        "edited_neurons": len(selection.affirm) + len(selection.oppose),
        "plain_s": statistics.median(plain),
        "edited_s": statistics.median(edited),
        "ratio": statistics.median(edited) / statistics.median(plain),
        "ratio_of_pairs": statistics.median(e / p for e, p in zip(edited, plain, strict=True)),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
