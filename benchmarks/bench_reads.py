"""The verdict's reads against the bare forward: forced-choice throughput as a share of the
machine index (issue 19's target: at least 70%), the gradient read with the situation
shared through the KV cache against the same read with each answer's row run whole, and the
reads with a prefix every context shares (the chat template's system turn; with a persona
prompt, that prompt too) run once per batch against the same reads without sharing it.

Every variant runs interleaved in one process, repeated, medians reported; tokens counted are
the tokens each read covers (situation + both answers per item), so a read that computes the
situation once counts it twice, as the user's work it did.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_reads.py --items 40 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from valuelocate.architectures import model_shape
from valuelocate.comparison.answers import answer_logits
from valuelocate.comparison.forced_choice import likelihood_reading
from valuelocate.comparison.grid import prompt_prefix
from valuelocate.comparison.linear import _Offset, read_linear
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.hooks import edit_neurons
from valuelocate.locating.ladder import default_band
from valuelocate.machine import measure_machine
from valuelocate.models import load_model
from valuelocate.prompting import answer_ids, context_ids, left_pad, pad_token_id


def _two_rows_gradient(lm, items, layers, batch_size: int = 8) -> None:  # type: ignore[no-untyped-def]
    """The read before the shared cache: situation + answer as one row per answer."""
    neurons = model_shape(lm.model).neurons_per_layer
    offsets = {layer: torch.zeros(neurons, requires_grad=True) for layer in layers}
    edit = _Offset(offsets)
    pad = pad_token_id(lm.tokenizer)
    for param in lm.model.parameters():
        param.requires_grad_(False)
    try:
        for begin in range(0, len(items), batch_size):
            chunk = items[begin : begin + batch_size]
            seqs, lengths = [], []
            for pole in ("affirm", "oppose"):
                for item in chunk:
                    answer = answer_ids(lm, getattr(item, pole))
                    seqs.append(context_ids(lm, item.situation.strip()) + answer)
                    lengths.append(len(answer))
            ids, mask = left_pad(seqs, pad)
            keep = max(lengths) + 1
            with edit_neurons(lm.model, edit, scope="all"):
                logits = lm.model(
                    input_ids=ids,
                    attention_mask=mask,
                    position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                    logits_to_keep=keep,
                ).logits
            logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            means = torch.stack(
                [
                    logp[r, keep - 1 - n :].gather(-1, ids[r, -n:, None]).mean()
                    for r, n in enumerate(lengths)
                ]
            )
            (means[: len(chunk)] - means[len(chunk) :]).sum().backward()
    finally:
        for param in lm.model.parameters():
            param.requires_grad_(True)


def _unshared_read(lm, items, prefix: str = "", batch_size: int = 8) -> None:  # type: ignore[no-untyped-def]
    """The likelihood read before the shared prefix: every context run whole, in item order."""
    contexts = [context_ids(lm, prefix + i.situation.strip()) for i in items]
    answers = [[answer_ids(lm, i.affirm), answer_ids(lm, i.oppose)] for i in items]
    with torch.no_grad():
        for begin in range(0, len(items), batch_size):
            end = begin + batch_size
            answer_logits(lm, contexts[begin:end], answers[begin:end], share_prefix=False).means()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    lm = load_model(args.model, device=args.device)
    items = load_forced_choice(split="dev")[: args.items]
    layers = default_band(model_shape(lm.model).num_layers)
    tokens = sum(
        2 * len(context_ids(lm, i.situation.strip()))
        + len(answer_ids(lm, i.affirm))
        + len(answer_ids(lm, i.oppose))
        for i in items
    )
    persona = prompt_prefix("openness_to_change", "affirm")
    with_persona = tokens + sum(
        2
        * (
            len(context_ids(lm, persona + i.situation.strip()))
            - len(context_ids(lm, i.situation.strip()))
        )
        for i in items
    )
    variants: dict[str, Callable[[], object]] = {
        "forced_choice_read": lambda: likelihood_reading(lm, items),
        "forced_choice_read_unshared": lambda: _unshared_read(lm, items),
        "prompt_read": lambda: likelihood_reading(lm, items, prefix=persona),
        "prompt_read_unshared": lambda: _unshared_read(lm, items, persona),
        "gradient_read_shared_cache": lambda: read_linear(lm, items, layers),
        "gradient_read_two_rows": lambda: _two_rows_gradient(lm, items, layers),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    indices = []
    for _ in range(args.repeats):
        indices.append(measure_machine(lm).tokens_per_s)
        for name, fn in variants.items():
            began = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - began)
    index = statistics.median(indices)
    out = {
        "machine_index_tokens_per_s": index,
        "items": len(items),
        "tokens_per_read": tokens,
        "threads": torch.get_num_threads(),
    }
    for name, seconds in times.items():
        rate = (with_persona if name.startswith("prompt") else tokens) / statistics.median(seconds)
        out[name] = {
            "seconds": statistics.median(seconds),
            "tokens_per_s": rate,
            "share_of_index": rate / index,
        }
    out["gradient_read_speedup"] = (
        out["gradient_read_two_rows"]["seconds"] / out["gradient_read_shared_cache"]["seconds"]
    )
    for name in ("forced_choice_read", "prompt_read"):
        out[f"{name}_shared_prefix_speedup"] = (
            out[f"{name}_unshared"]["seconds"] / out[name]["seconds"]
        )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
