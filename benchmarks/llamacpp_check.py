"""llama.cpp against ValueLocate for a run's exported control vectors (docs/llamacpp.md).

    PYTHONPATH=src python benchmarks/llamacpp_check.py RUN_DIR EXPORT_DIR [--fc-items 100]

EXPORT_DIR is what `valuelocate export RUN_DIR EXPORT_DIR --gguf [--approximate]` wrote. Runs
the embedded model's own GGUF in llama.cpp (llama-cpp-python: `make install-llamacpp`) steered
by each file, ValueLocate's float model steered by the verdict's neuron edit (and, for an
approximate file, by the file's own vectors), and prints the figures of
:func:`valuelocate.llamacpp.verify.verify_export` as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from valuelocate.artifacts.verdict import run_edit
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.llamacpp import read_control_vector
from valuelocate.llamacpp.verify import verify_export
from valuelocate.model_files import default_gguf_path
from valuelocate.models import load_model
from valuelocate.steering.residual import LayerVectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("--fc-items", type=int, default=100, help="test items per dimension")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    began = time.monotonic()
    lm = load_model("default")
    record = json.loads((args.export_dir / "export.json").read_text())
    by_dimension: dict[str, list[dict]] = {}
    for d in record["directions"]:
        by_dimension.setdefault(d["dimension"], []).append(d)
    heads = (
        "direction", "fold", "tolerance (max / mean)", "change gap max / mean", "within",
        "our change", "fc shift ours", "fc shift llama.cpp", "same sign",
        "greedy same (unsteered)", "greedy same (steered)", "llama.cpp vs our folded",
    )  # fmt: skip
    print("| " + " | ".join(heads) + " |")
    print("|---|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|")
    for dimension, rows in by_dimension.items():
        names = {f"{r['dimension']}.{r['pole']}": r for r in rows}
        files = {n: args.export_dir / r["file"] for n, r in names.items()}
        edits = {n: run_edit(args.run_dir, r["dimension"], r["pole"]) for n, r in names.items()}
        folded = {
            n: LayerVectors(
                {
                    k: torch.from_numpy(v)
                    for k, v in read_control_vector(files[n]).directions.items()
                }
            )
            for n, r in names.items()
            if not r["exact"]
        }
        items = sorted(load_forced_choice(dimension=dimension, split="test"), key=lambda i: i.id)
        result = verify_export(
            lm, default_gguf_path(), files, edits, items, prompts=args.prompts,
            fc_items=args.fc_items, folded=folded or None,
            exact={n: bool(r["exact"]) for n, r in names.items()}, threads=args.threads,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )  # fmt: skip
        for c in result.directions:
            print(
                f"| {c.direction} | {'exact' if c.exact else 'approximate'} | "
                f"{result.tolerance:.3f} / {result.tolerance_mean:.3f} | "
                f"{c.change_gap_max:.3f} / {c.change_gap_mean:.3f} | {c.within_tolerance:.2f} | "
                f"{c.change_size:.3f} | {c.fc_shift_ours:+.4f} | {c.fc_shift_cpp:+.4f} | "
                f"{'yes' if c.fc_same_sign else 'NO'} | {result.greedy_same_unsteered:.2f} | "
                f"{c.greedy_same:.2f} | "
                f"{'-' if c.folded_gap_max is None else format(c.folded_gap_max, '.3f')} |",
                flush=True,
            )
    print(f"({time.monotonic() - began:.0f} s, {args.prompts} prompts, {args.fc_items} items)")


if __name__ == "__main__":
    main()
