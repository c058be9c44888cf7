"""How close the model's bare forward runs to the machine's own matrix-product speed.

The verdict's minutes are nearly all forwards of the model (docs/benchmarks.md, *Where the
job's time goes*); this says how much faster a forward could get on the same machine in the
same precision, whatever its kernels did. It times, in one process and interleaved:

- a square ``--gemm`` matrix product in float32 (and in bfloat16 where the CPU runs it), the
  machine's peak for the forward's main operation;
- the model's bare batched forward in its ``--dtype`` (float32, the default, or bfloat16; no
  hooks, no cache, no grad, the output head at the last position only, as the reads and the
  machine index run it) at ``--batch`` x ``--length``;

then profiles the forward (``torch.profiler``, self CPU time) and reports the matrix products'
share of it, their speed (the decoder's linear layers' multiply-adds over the products' time)
against the peak of the model's precision, and the floor: the forward's time if its products
ran at that peak and everything else took no time.

    .venv/bin/python benchmarks/forward_peak.py --repeats 7 --json peak.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from valuelocate.machine import measure_machine
from valuelocate.models import load_model

MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm")
ATTENTION_OPS = ("aten::_scaled_dot_product_flash_attention_for_cpu",)


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall seconds of ``repeats`` calls after one untimed warm-up."""
    fn()
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds)


def gemm_gflops(n: int, dtype: torch.dtype, repeats: int) -> float | None:
    """GFLOP/s of an ``n x n`` by ``n x n`` product in ``dtype``; None where it cannot run."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator).to(dtype)
    b = torch.randn(n, n, generator=generator).to(dtype)
    try:
        seconds = median_seconds(lambda: a @ b, repeats)
    except RuntimeError:
        return None
    return 2 * n**3 / seconds / 1e9


def linear_macs_per_token(model: nn.Module) -> int:
    """Multiply-adds per token of the decoder's linear layers (every ``nn.Linear`` but the
    output head, which the forward runs at one position a row)."""
    head = model.get_output_embeddings()
    return sum(
        int(m.weight.numel()) for m in model.modules() if isinstance(m, nn.Linear) and m is not head
    )


def operator_shares(run: Callable[[], object]) -> tuple[float, dict[str, float]]:
    """One profiled call: its operators' total self CPU seconds and each group's share."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) / 1e6
    groups = {"matmul": 0.0, "attention": 0.0, "other": 0.0}
    for e in events:
        group = (
            "matmul" if e.key in MATMUL_OPS else "attention" if e.key in ATTENTION_OPS else "other"
        )
        groups[group] += e.self_cpu_time_total / 1e6
    return total, {k: v / total for k, v in groups.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--gemm", type=int, default=2048, help="side of the square product")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    lm = load_model(args.model, dtype=args.dtype)
    model: Any = lm.model
    vocab = int(model.get_input_embeddings().weight.shape[0])
    ids = torch.randint(
        0, vocab, (args.batch, args.length), generator=torch.Generator().manual_seed(0)
    )

    def forward() -> None:
        with torch.no_grad():
            model(input_ids=ids, use_cache=False, logits_to_keep=1)

    index = measure_machine(lm)
    fp32_peak = gemm_gflops(args.gemm, torch.float32, args.repeats)
    bf16_peak = gemm_gflops(args.gemm, torch.bfloat16, args.repeats)
    seconds = median_seconds(forward, args.repeats)
    profiled, shares = operator_shares(forward)
    assert fp32_peak is not None  # float32 products always run
    peak = fp32_peak if args.dtype == "float32" else bf16_peak
    if peak is None:
        raise SystemExit(f"{args.dtype} products do not run here")

    tokens = args.batch * args.length
    flops = 2 * linear_macs_per_token(model) * tokens
    matmul_seconds = shares["matmul"] * profiled
    floor = flops / (peak * 1e9)
    out = {
        "model": args.model,
        "dtype": args.dtype,
        "threads": torch.get_num_threads(),
        "machine_index_tokens_per_s": index.tokens_per_s,
        "gemm_float32_gflops": fp32_peak,
        "gemm_bfloat16_gflops": bf16_peak,
        "forward": {"batch": args.batch, "length": args.length, "seconds": seconds},
        "forward_tokens_per_s": tokens / seconds,
        "forward_linear_gflops": flops / seconds / 1e9,
        "profiled_seconds": profiled,
        "shares": shares,
        "matmul_gflops": flops / matmul_seconds / 1e9,
        "matmul_share_of_peak": flops / matmul_seconds / 1e9 / peak,
        "floor_seconds": floor,
        "largest_speedup": seconds / floor,
    }
    print(index.line())
    bf16 = f"{bf16_peak:.0f}" if bf16_peak is not None else "not run"
    print(f"product {args.gemm}^3: float32 {fp32_peak:.0f} GFLOP/s, bfloat16 {bf16}")
    print(
        f"forward {args.batch} x {args.length}: {seconds:.3f} s, {tokens / seconds:.0f} tokens/s, "
        f"linear layers {out['forward_linear_gflops']:.0f} GFLOP/s "
        f"({out['forward_linear_gflops'] / peak:.0%} of the {args.dtype} peak)"
    )
    print(
        "profiled: "
        + ", ".join(f"{k} {v:.1%}" for k, v in shares.items())
        + f"; the products at {out['matmul_gflops']:.0f} GFLOP/s "
        f"({out['matmul_share_of_peak']:.0%} of the peak)"
    )
    print(
        f"floor (products at the peak, nothing else): {floor:.3f} s, "
        f"at most {out['largest_speedup']:.2f}x faster in {args.dtype}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
