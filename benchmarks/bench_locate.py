"""Locate benchmark: statistics-hook overhead, peak memory vs prompt count, and the
cache-everything alternative. Figures are medians of repeats from one run; ratios compare
variants measured in the same run, interleaved, so machine noise hits them alike.

    .venv/bin/python benchmarks/bench_locate.py overhead --repeats 7
    .venv/bin/python benchmarks/bench_locate.py memory --prompts 100 1000
    .venv/bin/python benchmarks/bench_locate.py alternative --prompts 100

``memory`` and ``alternative`` run each configuration in a fresh subprocess and read its peak
resident memory (ru_maxrss), so one configuration's allocations never hide another's.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from valuelocate.architectures import model_shape
from valuelocate.data import load_descriptions, load_prompts
from valuelocate.hooks import DecodeChunker, capture_activations, trace_neurons
from valuelocate.locating import LocateOptions, build_jobs, run_pole
from valuelocate.models import LoadedModel, load_model
from valuelocate.prompting import chat_inputs, stop_token_ids
from valuelocate.stats import NeuronStats


def _job(prompts: int, seed: int = 0):  # type: ignore[no-untyped-def]
    options = LocateOptions(dimensions=("conservation",), prompts_per_pole=prompts, seed=seed)
    return build_jobs(options, load_prompts(split="search"), load_descriptions())[0]


def _median_time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def overhead(args: argparse.Namespace) -> dict:
    lm = load_model(args.model, device=args.device)
    model, shape = lm.model, model_shape(lm.model)
    job = _job(args.batch)
    batch = {k: v.to(args.device) for k, v in chat_inputs(lm.tokenizer, list(job.texts)).items()}
    stops = stop_token_ids(model, lm.tokenizer)
    pad = lm.tokenizer.pad_token_id

    def forward(hooked: bool) -> None:
        stats = NeuronStats(shape.num_layers, shape.neurons_per_layer)
        with torch.no_grad():
            if hooked:
                with trace_neurons(model, stats.add, scope="all"):
                    model(**batch)
                stats.end_batch()
            else:
                model(**batch)

    def generate(hooked: bool) -> None:
        stats = NeuronStats(shape.num_layers, shape.neurons_per_layer)
        kwargs = dict(max_new_tokens=args.new_tokens, do_sample=False, pad_token_id=pad)
        with torch.no_grad():
            if hooked:  # exactly what run_pole does
                chunker = DecodeChunker(stats.add)
                with trace_neurons(model, chunker, scope="generated", stop_token_ids=stops):
                    model.generate(**batch, **kwargs)
                chunker.flush()
                stats.end_batch()
            else:
                model.generate(**batch, **kwargs)

    result: dict = {"batch": args.batch, "prompt_tokens": int(batch["input_ids"].shape[1])}
    for name, fn in (("forward", forward), ("generate", generate)):
        fn(False), fn(True)  # warm-up
        plain, hooked = [], []
        for _ in range(args.repeats):
            plain.append(_median_time(lambda fn=fn: fn(False)))
            hooked.append(_median_time(lambda fn=fn: fn(True)))
        result[name] = {
            "plain_s": statistics.median(plain),
            "hooked_s": statistics.median(hooked),
            "ratio": statistics.median(hooked) / statistics.median(plain),
            "ratio_of_pairs": statistics.median(h / p for h, p in zip(hooked, plain, strict=True)),
        }
    return result


def _child(args: argparse.Namespace) -> None:
    """One configuration in this (fresh) process; prints JSON with time and peak memory."""
    lm: LoadedModel = load_model(args.model, device=args.device)
    shape = model_shape(lm.model)
    job = _job(args.n)
    options = LocateOptions(scope="prompt", batch_size=args.batch)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if args.variant == "stream":
        stats = run_pole(lm, job, options, NeuronStats(shape.num_layers, shape.neurons_per_layer))
        p, q95 = stats.p, stats.q95
    else:  # cache every activation with plain hooks, then reduce
        chunks: list[torch.Tensor] = []
        for begin in range(0, len(job.texts), args.batch):
            batch = chat_inputs(lm.tokenizer, list(job.texts[begin : begin + args.batch]))
            with torch.no_grad(), capture_activations(lm.model, scope="prompt") as cap:
                lm.model(**batch)
            chunks.append(torch.stack([cap.values(layer) for layer in range(shape.num_layers)]))
        values = torch.cat(chunks, dim=1)  # [layers, tokens, neurons]
        p = (values > 0).double().mean(dim=1)
        q95 = torch.stack([torch.quantile(v.float(), 0.95, dim=0) for v in values])
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "variant": args.variant,
                "prompts": args.n,
                "seconds": elapsed,
                "peak_rss_mb": peak / 1024,
                "rss_before_work_mb": before / 1024,
                "p_mean": float(p.mean()),
                "q95_mean": float(q95.mean()),
            }
        )
    )


def _run_child(variant: str, n: int, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable, __file__, "child", "--variant", variant, "--n", str(n),
        "--model", args.model, "--device", args.device, "--batch", str(args.batch),
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory(args: argparse.Namespace) -> dict:
    runs = [_run_child("stream", n, args) for n in args.prompts]
    base = runs[0]["peak_rss_mb"]
    return {"runs": runs, "peak_ratio_vs_first": [r["peak_rss_mb"] / base for r in runs]}


def alternative(args: argparse.Namespace) -> dict:
    out = {}
    for n in args.prompts:
        stream = _run_child("stream", n, args)
        cache = _run_child("cache", n, args)
        out[str(n)] = {
            "stream": stream,
            "cache_then_reduce": cache,
            "time_ratio_cache_over_stream": cache["seconds"] / stream["seconds"],
            "peak_ratio_cache_over_stream": cache["peak_rss_mb"] / stream["peak_rss_mb"],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["overhead", "memory", "alternative", "child"])
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--prompts", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--variant", default="stream")
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args()
    if args.what == "child":
        _child(args)
        return
    result = {"overhead": overhead, "memory": memory, "alternative": alternative}[args.what](args)
    print(json.dumps({args.what: result, "device": args.device, "model": args.model}, indent=2))


if __name__ == "__main__":
    main()
