"""Statistics benchmark (issue 12): overhead of streaming statistics, run-directory size and
peak memory, in one run, all on one model. Ratios are statistics-on / statistics-off, measured
interleaved in this run (median of repeats), so machine noise hits both alike.

    .venv/bin/python benchmarks/bench_stats.py --repeats 5 --json out.json
    .venv/bin/python benchmarks/bench_stats.py --skip-size --skip-memory   # overhead only

Work measured (the lean statistics of the default method, delta-p: histogram + prompt
moments, and also --all-statistics for the forward pass):

- forward: one forward over a batch of locating prompts, scope ``all`` and ``prompt``;
- generate: greedy generation, scope ``generated`` (what run_pole does);
- descriptions: a forward-only pass over the value descriptions, each read as a user message
  through the chat template, statistics over all its tokens (the ``descriptions`` contrast
  source's loop, measured here with its own code);
- size: a locate run directory of the main job's settings (``valuelocate run`` defaults);
- memory: peak RSS of a scope-``prompt`` pole at 100 and 1,000 prompts (fresh processes, via
  bench_locate.py's child).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from valuelocate.architectures import model_shape
from valuelocate.data import load_descriptions, load_prompts
from valuelocate.hooks import DecodeChunker, trace_neurons
from valuelocate.locating import LocateOptions, build_jobs, locate
from valuelocate.models import load_model
from valuelocate.prompting import chat_inputs, stop_token_ids
from valuelocate.selection import DeltaP
from valuelocate.stats import NeuronStats

LEAN = DeltaP.needs


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _interleaved(variants: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    for fn in variants.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            times[name].append(_timed(fn))
    return times


def _summary(times: dict[str, list[float]], base: str) -> dict[str, dict[str, float]]:
    ref = statistics.median(times[base])
    out = {}
    for name, values in times.items():
        pairs = [v / b for v, b in zip(values, times[base], strict=True)]
        out[name] = {
            "median_s": statistics.median(values),
            "ratio": statistics.median(values) / ref,
            "ratio_of_pairs": statistics.median(pairs),
        }
    return out


def overhead(args: argparse.Namespace) -> dict:
    lm = load_model(args.model, device=args.device)
    model, shape = lm.model, model_shape(lm.model)
    options = LocateOptions(dimensions=("conservation",), prompts_per_pole=args.batch)
    job = build_jobs(options, load_prompts(split="search"), load_descriptions())[0]
    batch = {k: v.to(args.device) for k, v in chat_inputs(lm.tokenizer, list(job.texts)).items()}
    stops = stop_token_ids(model, lm.tokenizer)
    layers, neurons = shape.num_layers, shape.neurons_per_layer

    def forward(scope: str, keep: frozenset[str] | None) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                if keep is None and scope == "off":
                    model(**batch)
                    return
                stats = NeuronStats(layers, neurons, statistics=keep)
                with trace_neurons(model, stats.add, scope=scope):  # type: ignore[arg-type]
                    model(**batch)
                stats.end_batch()

        return run

    def generate(hooked: bool) -> Callable[[], None]:
        kwargs = dict(max_new_tokens=args.new_tokens, do_sample=False)
        kwargs["pad_token_id"] = lm.tokenizer.pad_token_id

        def run() -> None:
            with torch.no_grad():
                if not hooked:
                    model.generate(**batch, **kwargs)
                    return
                stats = NeuronStats(layers, neurons, statistics=LEAN)
                chunker = DecodeChunker(stats.add)
                with trace_neurons(model, chunker, scope="generated", stop_token_ids=stops):
                    model.generate(**batch, **kwargs)
                chunker.flush()
                stats.end_batch()

        return run

    texts = [d.text for d in load_descriptions()][: args.descriptions]
    described = [
        {k: v.to(args.device) for k, v in chat_inputs(lm.tokenizer, texts[i : i + 16]).items()}
        for i in range(0, len(texts), 16)
    ]

    def descriptions(hooked: bool) -> Callable[[], None]:
        def run() -> None:
            stats = NeuronStats(layers, neurons, statistics=LEAN)
            with torch.no_grad():
                for inputs in described:
                    if hooked:
                        with trace_neurons(model, stats.add, scope="all"):
                            model(**inputs)
                        stats.end_batch()
                    else:
                        model(**inputs)

        return run

    result: dict = {"batch": args.batch, "prompt_tokens": int(batch["input_ids"].shape[1])}
    fwd = _interleaved(
        {
            "off": forward("off", None),
            "all": forward("all", LEAN),
            "prompt": forward("prompt", LEAN),
            "all_every_statistic": forward("all", None),
        },
        args.repeats,
    )
    result["forward"] = _summary(fwd, "off")
    gen = _interleaved({"off": generate(False), "generated": generate(True)}, args.repeats)
    result["generate"] = {"new_tokens": args.new_tokens, **_summary(gen, "off")}
    reps = max(1, args.repeats // 2)
    desc = _interleaved({"off": descriptions(False), "all": descriptions(True)}, reps)
    result["descriptions"] = {"texts": len(texts), "repeats": reps, **_summary(desc, "off")}
    return result


def run_dir_size(args: argparse.Namespace) -> dict:
    """A locate run directory with the main job's settings (16 prompts, 16 new tokens)."""
    dims = tuple(args.size_dimensions.split(",")) if args.size_dimensions else None
    options = LocateOptions(prompts_per_pole=16, max_new_tokens=16, device=args.device)
    if dims:
        options = LocateOptions(
            prompts_per_pole=16, max_new_tokens=16, device=args.device, dimensions=dims
        )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        start = time.perf_counter()
        locate(options, out)
        seconds = time.perf_counter() - start
        files = {str(p.relative_to(out)): p.stat().st_size for p in out.rglob("*") if p.is_file()}
    stats_bytes = sum(v for k, v in files.items() if k.startswith("stats/"))
    poles = sum(1 for k in files if k.startswith("stats/"))
    return {
        "dimensions": list(options.dimensions),
        "total_mb": sum(files.values()) / 1e6,
        "stats_mb": stats_bytes / 1e6,
        "per_pole_mb": stats_bytes / max(poles, 1) / 1e6,
        "all_four_dimensions_estimate_mb": (sum(files.values()) - stats_bytes) / 1e6
        + 8 * stats_bytes / max(poles, 1) / 1e6,
        "seconds": seconds,
    }


def memory(args: argparse.Namespace) -> dict:
    runs = []
    for n in args.prompts:
        cmd = [
            sys.executable, str(Path(__file__).with_name("bench_locate.py")), "child",
            "--variant", "stream", "--n", str(n), "--model", args.model,
            "--device", args.device, "--batch", "8",
        ]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = runs[0]["peak_rss_mb"]
    return {"runs": runs, "peak_ratio_vs_first": [r["peak_rss_mb"] / base for r in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--descriptions", type=int, default=640)
    parser.add_argument("--size-dimensions", default="", help="comma list; default all four")
    parser.add_argument("--prompts", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--skip-size", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    result: dict = {"model": args.model, "device": args.device, "torch": torch.__version__}
    result["threads"] = torch.get_num_threads()
    result["overhead"] = overhead(args)
    if not args.skip_size:
        result["run_dir"] = run_dir_size(args)
    if not args.skip_memory:
        result["memory"] = memory(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
