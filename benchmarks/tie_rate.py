"""How often greedy decoding meets a near tie, unsteered and steered, over many distinct prompts.

The server re-runs a greedy row alone when its best token leads the runner-up by less than
``--tie-margin`` in a batch (serve/decode.py): that re-run is the exactness guarantee's price,
and whether steering makes it more frequent decides whether it is a cost of steering or of
serving. ``bench_serve.py`` cannot tell: its rounds repeat a few prompts, so a handful of tied
answers decide its figure. Here ``--prompts`` distinct ValueInsight situational prompts (the
``search`` split, every dimension in turn) are decoded greedily for ``--steps`` tokens in
batches of ``--batch`` rows (``tie_gap.decode``: the server's feeding, no re-run), once
unsteered and once with each row steered as the serving benchmarks steer it (row ``i``: one of
``--dims`` at size +-1 under ``--rule``); every step's top-2 margin is counted.

Prints, per side, the steps whose margin is below each candidate margin and the answers with at
least one such step (each costs one re-run), with 95% Wilson intervals. ``--server-loop`` then
runs the server's decoding loop itself (``decode_batch``: the fast path, ``--tie-margin``,
``ignore_eos``) on the same prompts in the same fixed batches, each side steered as above, and
prints its re-runs, the rows re-run and the re-runs' seconds (the loop's own count, which the
margins above predict, and what a re-run costs).

    PYTHONPATH=src python benchmarks/tie_rate.py --neurons RUN --dims self_enhancement \
        self_transcendence --prompts 256 --steps 32
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from serve_setup import situation_prompts
from tie_gap import _steering, decode, margin, row_steering

from valuelocate.models import LoadedModel, load_model
from valuelocate.prompting import stop_token_ids
from valuelocate.serve.decode import decode_batch
from valuelocate.serve.row import Row
from valuelocate.serve.server import build_catalog
from valuelocate.serve.steering import SteeringCatalog

MARGINS = (1e-2, 3e-3, 1e-3, 3e-4, 1e-4)


def wilson(hits: int, total: int) -> tuple[float, float]:
    """The 95% Wilson interval of a binomial proportion."""
    if total == 0:
        return 0.0, 1.0
    z, p = 1.96, hits / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--neurons", type=Path, required=True, help="a run to steer with")
    parser.add_argument("--rule", default=None, help="default: the run's")
    parser.add_argument("--dims", nargs="*", default=None, help="default: every dimension")
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--server-loop", action="store_true", help="also run decode_batch")
    parser.add_argument("--tie-margin", type=float, default=1e-3, help="the server loop's")
    args = parser.parse_args()
    lm = load_model(args.model)
    catalog = build_catalog(lm, args.neurons, name="t", max_gamma=4.0, alias_gamma=1.0)
    prompts = situation_prompts(lm, args.prompts)
    margins: dict[str, list[torch.Tensor]] = {"unsteered": [], "steered": []}
    changed = 0  # greedy tokens the steering changes (teacher-free: each side its own answer)
    for start in range(0, len(prompts), args.batch):
        chunk = prompts[start : start + args.batch]
        rows = range(start, start + len(chunk))
        tokens = []
        for side, steering in (("unsteered", None), ("steered", _steering(catalog, rows, args))):
            logits = decode(lm, chunk, args.steps, steering=steering)
            margins[side].append(margin(logits))
            tokens.append(logits.argmax(-1))
        changed += int((tokens[0] != tokens[1]).sum())
        print(f"{start + len(chunk)} of {len(prompts)} prompts", flush=True)
    how = f"{args.rule or catalog.default_rule} on {', '.join(args.dims or list(catalog.sets))}"
    print(
        f"\nmodel {args.model}, {len(prompts)} distinct prompts x {args.steps} greedy steps, "
        f"batches of {args.batch}; steered: {how}, row i at size +-1 (it changes {changed} "
        f"of {len(prompts) * args.steps} greedy tokens)\n"
    )
    print("| side | margin below | steps | share of steps (95% CI) | answers with one or more |")
    print("|---|---:|---:|---|---:|")
    for side, found in margins.items():
        gaps = torch.cat(found)  # [prompts, steps]
        for m in MARGINS:
            below = gaps < m
            steps, answers = int(below.sum()), int(below.any(dim=1).sum())
            low, high = wilson(steps, below.numel())
            print(
                f"| {side} | {m:g} | {steps} of {below.numel()} | {steps / below.numel():.4%} "
                f"({low:.4%}-{high:.4%}) | {answers} of {len(gaps)} |"
            )
    if args.server_loop:
        server_loop(lm, catalog, prompts, args)


def server_loop(
    lm: LoadedModel, catalog: SteeringCatalog, prompts: list[list[int]], args: argparse.Namespace
) -> None:
    """The server's decoding loop on ``prompts`` in fixed batches, unsteered then steered:
    per side its re-runs, the rows re-run and their seconds."""
    stops = stop_token_ids(lm.model, lm.tokenizer)
    print(f"\nThe server's decoding loop (fast path, margin {args.tie_margin:g}, ignore_eos):\n")
    print("| side | re-runs | rows re-run | seconds of re-runs | seconds a re-run | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for side in ("unsteered", "steered"):
        reruns = rerun_rows = 0
        seconds, began = 0.0, time.perf_counter()
        for start in range(0, len(prompts), args.batch):
            chunk = prompts[start : start + args.batch]
            rows = [
                _row(catalog, i, ids, args, side == "steered") for i, ids in enumerate(chunk, start)
            ]
            decode_batch(lm, rows, stop_ids=stops, site=catalog.site, tie_margin=args.tie_margin)
            reruns += sum(r.retries for r in rows)
            rerun_rows += sum(r.retries > 0 for r in rows)
            seconds += sum(r.retry_seconds for r in rows)
        print(
            f"| {side} | {reruns} | {rerun_rows} of {len(prompts)} | {seconds:.2f} | "
            f"{seconds / max(reruns, 1):.3f} | {time.perf_counter() - began:.0f} |"
        )


def _row(
    catalog: SteeringCatalog, i: int, ids: list[int], args: argparse.Namespace, steered: bool
) -> Row:
    """Prompt ``i`` as the server's row, steered as ``_steering`` steers it, or unsteered."""
    if steered:
        built = row_steering(catalog, i, args)
    else:
        built = catalog.steering("t", None, None, None, None)
    edit = catalog.build(built)
    return Row(ids=ids, edit=edit, scope=built.scope, max_tokens=args.steps, ignore_eos=True)


if __name__ == "__main__":
    main()
