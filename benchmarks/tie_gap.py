"""How far batched decoding's logits are from solo ones, and how often a greedy step's margin
falls below a given ``tie_margin`` (the server re-runs such a row alone: serve/decode.py).

A batch of ``--rows`` chat prompts (the serving benchmarks' prompts, repeated) is decoded
greedily for ``--steps`` tokens the way the server's loop feeds the model; every row is then
decoded alone on the batch's own tokens (teacher-forced, so both sides see the same prefix) and
the two sets of logits are compared step by step. Prints the largest and the 99.9th-percentile
absolute difference of a logit and of the top-2 margin, and how many batched steps fall below
each candidate margin: a margin is safe while it exceeds twice the largest logit difference.

With ``--neurons RUN`` every row is steered as the serving benchmarks steer it (row ``i`` asks
for one of ``--dims`` at size +-1 under ``--rule``, default the run's), on both sides: the batch
through the server's row steering, each solo row through the same steering of its own edit.

    PYTHONPATH=src python benchmarks/tie_gap.py --model default --rows 16 --steps 32
    PYTHONPATH=src python benchmarks/tie_gap.py --neurons RUN --dims self_enhancement --steps 128
"""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from serve_setup import PROMPTS, chat_ids, row_values
from transformers import DynamicCache

from valuelocate.models import LoadedModel, load_model
from valuelocate.prompting import left_pad, pad_token_id
from valuelocate.serve.server import build_catalog
from valuelocate.serve.steering import Steering, SteeringCatalog
from valuelocate.steering.rows import RowSteering, steer_rows


def decode(
    lm: LoadedModel,
    prompts: list[list[int]],
    steps: int,
    forced: Any = None,
    steering: RowSteering | None = None,
) -> Any:
    """Greedy logits [rows, steps, vocab] of a left-padded batch, fed as the server feeds it;
    with ``forced`` [rows, steps] the rows follow those tokens instead of their own; with
    ``steering`` each row under its own edit."""
    model, tok = lm.model, lm.tokenizer
    ids, mask = left_pad(prompts, pad_token_id(tok))
    padded = not bool(mask.all())
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache(config=model.config.get_text_config(decoder=True))
    out_logits, step_ids = [], ids
    steered = steer_rows(model, steering) if steering is not None else nullcontext()
    with torch.no_grad(), steered:
        for step in range(steps):
            kwargs: dict[str, Any] = {"position_ids": positions, "cache": cache}
            if padded:
                kwargs["attention_mask"] = mask
            logits = model(input_ids=step_ids, use_cache=True, logits_to_keep=1, **kwargs)
            last = logits.logits[:, -1, :].float()
            out_logits.append(last)
            nxt = last.argmax(-1) if forced is None else forced[:, step]
            step_ids = nxt[:, None]
            mask = torch.cat([mask, mask.new_ones(len(prompts), 1)], dim=1)
            positions = positions[:, -1:] + 1
    return torch.stack(out_logits, dim=1)


def margin(logits: Any) -> Any:
    top = logits.topk(2, dim=-1).values
    return top[..., 0] - top[..., 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--neurons", type=Path, default=None, help="steer every row (a run)")
    parser.add_argument("--rule", default=None, help="default: the run's")
    parser.add_argument("--dims", nargs="*", default=None, help="default: every dimension")
    args = parser.parse_args()
    lm = load_model(args.model)
    catalog = None
    if args.neurons is not None:
        catalog = build_catalog(lm, args.neurons, name="t", max_gamma=4.0, alias_gamma=1.0)
    texts = [PROMPTS[i % len(PROMPTS)] for i in range(args.rows)]
    # Vary repeated prompts a little, so a batch of 16 has 16 different rows.
    texts = [t if i < len(PROMPTS) else t + " Please be brief." for i, t in enumerate(texts)]
    prompts = chat_ids(lm, texts)
    rows = range(len(prompts))
    batched = decode(lm, prompts, args.steps, steering=_steering(catalog, rows, args))
    tokens = batched.argmax(-1)
    solo = torch.cat(
        [
            decode(lm, [p], args.steps, tokens[i : i + 1], _steering(catalog, [i], args))
            for i, p in enumerate(prompts)
        ]
    )
    diff = (batched - solo).abs()
    gap_diff = (margin(batched) - margin(solo)).abs()
    per_step = diff.amax(-1).flatten()
    how = "unsteered" if catalog is None else f"steered ({args.rule or catalog.default_rule})"
    print(f"model {args.model}, {args.rows} rows x {args.steps} steps, greedy, {how}")
    print(
        f"|logit batch - solo|: max {float(diff.max()):.3g}, "
        f"99.9th pct of per-step max {float(per_step.quantile(0.999)):.3g}, "
        f"median of per-step max {float(per_step.median()):.3g}"
    )
    print(f"|top-2 margin batch - solo|: max {float(gap_diff.max()):.3g}")
    flips = int((batched.argmax(-1) != solo.argmax(-1)).sum())
    print(f"steps whose greedy token differs batch vs solo: {flips} of {tokens.numel()}")
    gaps = margin(batched).flatten()
    for m in (1e-2, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5):
        print(f"batched steps with margin < {m:g}: {int((gaps < m).sum())} of {gaps.numel()}")


def _steering(
    catalog: SteeringCatalog | None, rows: Any, args: argparse.Namespace
) -> RowSteering | None:
    """Fresh edits (a rule's draws start from its seed) for ``rows``, as the server builds
    them; None unsteered."""
    if catalog is None:
        return None
    built = [row_steering(catalog, i, args) for i in rows]
    return RowSteering(
        [catalog.build(b) for b in built], [b.scope for b in built], site=catalog.site
    )


def row_steering(catalog: SteeringCatalog, i: int, args: argparse.Namespace) -> Steering:
    """Row ``i``'s steering as the serving benchmarks ask for it: one of ``--dims`` (default:
    every dimension) at size +-1 under ``--rule``."""
    return catalog.steering(
        "t", row_values(i, args.dims or list(catalog.sets)), args.rule, None, None
    )


if __name__ == "__main__":
    main()
