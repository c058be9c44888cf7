"""The prompt baseline (the positive control) on a forced-choice instrument's split.

The comparison grid reads the prompt baseline on the search split only (it is never chosen, so
it is never read on dev). To compare an edit's dev-split shift with the prompt's on the same
items, this reads the persona prefix of each pole (``valuelocate.comparison.grid
.prompt_prefix``) on the first ``--items`` dev items of each dimension and prints, per
dimension, the shift toward each pole and the gap between the poles' prefixes (affirm prefix
minus oppose prefix, in nats; positive = the prompt separates the poles the right way).

    PYTHONPATH=src python benchmarks/prompt_baseline.py --model gemma-3-270m \
        --no-chat-template --items 40 --json runs/prompt-baseline-gemma.json

``--instrument decision_pairs`` reads the decision pairs (METHOD.md section 8) instead, and
``--split search`` the search split. The default split is the forced-choice items' ``dev``
(the old test split, read many times while choosing: the yardstick of ``valuelocate
compare``'s dev-split check) and the decision pairs' ``test`` (they have no dev split). The
forced-choice ``test`` split is the main job's held-out verdict: ``--split test`` reads it,
which is for after the verdict, never for choosing.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from valuelocate.comparison.grid import Grid
from valuelocate.comparison.verdict import PROMPT_CONFIG
from valuelocate.data.decision_pairs import load_decision_pairs
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.models import load_model
from valuelocate.vocab import DIMENSIONS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--items", type=int, default=40, help="items per dimension")
    parser.add_argument(
        "--split",
        choices=("search", "dev", "test"),
        default=None,
        help="default: dev (forced choice), test (decision pairs)",
    )
    parser.add_argument(
        "--instrument", choices=("forced_choice", "decision_pairs"), default="forced_choice"
    )
    parser.add_argument("--no-chat-template", action="store_true", help="raw text (base model)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    lm = load_model(args.model)
    pairs = args.instrument == "decision_pairs"
    load = load_decision_pairs if pairs else load_forced_choice
    if args.split is None:
        args.split = "test" if pairs else "dev"
    items = {
        d: sorted(load(dimension=d, split=args.split), key=lambda i: i.id)[: args.items]
        for d in DIMENSIONS
    }
    # The cost measure is unused by the prompt baseline: one short neutral text keeps it cheap.
    grid = Grid(lm, items, neutral_texts=["A short text."], chat_template=not args.no_chat_template)
    rows = [row for d in DIMENSIONS for row in grid.run(PROMPT_CONFIG, d)]
    n = min(len(v) for v in items.values())
    print(f"model {args.model}, {args.instrument}, {n} {args.split} items per dimension")
    print("| dimension | affirm prefix | oppose prefix | gap (affirm - oppose) |")
    print("|---|---:|---:|---:|")
    for d in DIMENSIONS:
        affirm, oppose = (next(r for r in rows if (r.dimension, r.pole) == (d, p))
                          for p in ("affirm", "oppose"))  # fmt: skip
        print(
            f"| {d} | {affirm.shift:+.4f} [{affirm.ci_low:+.3f}, {affirm.ci_high:+.3f}] | "
            f"{oppose.shift:+.4f} [{oppose.ci_low:+.3f}, {oppose.ci_high:+.3f}] | "
            f"{affirm.shift - oppose.shift:+.4f} |"
        )
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
