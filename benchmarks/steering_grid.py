"""The rest of the steering grid, on the search split, cell by cell (the session's experiment).

``steering_search.py --cells 1`` measured the first cell (``desc+band+mean-diff``); this
script runs the named cells with the same settings and the same deterministic unedited
readings, plus the study's dynamic rule on the neuron sets of a locate run with 10x the main
job's locating data (``--run-dir``), and appends every row to ``--out/grid.json`` after each
cell so an interrupted run keeps what it measured. ``--test CELL`` then reads one cell on the
TEST split at the gammas its search rows found (run it only for the cell the fixed rule chose,
and for the study's rule, reported side by side).

    PYTHONPATH=src python benchmarks/steering_grid.py --out runs/steering-grid \
        --run-dir runs/locate-10x --items-per-dimension 12 --neutral-texts 8 --steps 3 \
        --start-gamma 2 --minutes 60
    PYTHONPATH=src python benchmarks/steering_grid.py --out runs/steering-grid \
        --run-dir runs/locate-10x --test "study 10x (delta-p, dynamic)"
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

from valuelocate.architectures import model_shape
from valuelocate.data import DIMENSIONS
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.evaluation.compare import Config, Grid, GridRow, write_rows
from valuelocate.evaluation.cost import load_neutral_texts
from valuelocate.evaluation.forced_choice import summarize_shift
from valuelocate.evaluation.verdict import default_band
from valuelocate.models import load_model


def _search_cells() -> list[Config]:
    path = Path(__file__).with_name("steering_search.py")
    spec = importlib.util.spec_from_file_location("steering_search", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.CELLS)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("runs/steering-grid"))
    parser.add_argument("--run-dir", type=Path, help="locate run for the study's rule (10x data)")
    parser.add_argument("--cells", default="", help="comma names; default every cell but the first")
    parser.add_argument("--items-per-dimension", type=int, default=12)
    parser.add_argument("--test-items", type=int, default=40)
    parser.add_argument("--neutral-texts", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--start-gamma", type=float, default=2.0)
    parser.add_argument("--budget", type=float, default=1.10)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--test", default="", help="read this cell on the test split")
    parser.add_argument("--model", default="default")
    parser.add_argument(
        "--no-chat-template", action="store_true", help="raw text (a base model: Gemma-3-270M)"
    )
    args = parser.parse_args()
    began = time.monotonic()
    log = lambda line: print(f"[{time.monotonic() - began:6.0f} s] {line}", flush=True)  # noqa: E731
    lm = load_model(args.model)
    layers = model_shape(lm.model).num_layers
    # The cells were written for the embedded model's 30 layers; other depths get the same
    # share of depth (the band) and the middle layer (the residual reference).
    cells = [
        replace(c, band=default_band(layers) if c.band else (),
                layer=round(layers / 2) if c.layer is not None else None)
        for c in _search_cells()
    ]  # fmt: skip
    if args.run_dir is not None:
        cells.append(
            Config(
                "study 10x (delta-p, dynamic)",
                "generated",
                "located",
                "dynamic",
                params={"v": "q95"},
                run_dir=str(args.run_dir),
            )  # fmt: skip
        )
    wanted = [c for c in args.cells.split(",") if c] or [c.name for c in cells[1:]]
    by_name = {c.name: c for c in cells}
    split = "test" if args.test else "search"
    count = args.test_items if args.test else args.items_per_dimension
    items = {
        d: sorted(load_forced_choice(dimension=d, split=split), key=lambda i: i.id)[:count]
        for d in DIMENSIONS
    }
    grid = Grid(
        lm,
        items,
        budget=args.budget,
        pairs_items={d: load_forced_choice(dimension=d, split="search") for d in DIMENSIONS},
        neutral_texts=load_neutral_texts()[: args.neutral_texts],
        progress=log,
        start_gamma=args.start_gamma,
        steps=args.steps,
        chat_template=not args.no_chat_template,
    )
    if args.test:
        _test(grid, by_name[args.test], items, args, log)
        return
    path = args.out / "grid.json"
    rows = [GridRow(**r) for r in json.loads(path.read_text())] if path.is_file() else []
    done = {r.config for r in rows}
    for name in wanted:
        if name in done:
            log(f"{name}: already measured")
            continue
        if time.monotonic() > began + 60 * args.minutes:
            log(f"time budget spent: {name} and later cells not run")
            break
        for dimension in DIMENSIONS:
            rows.extend(grid.run(by_name[name], dimension))
        write_rows(rows, args.out, name="grid")
    log("done")


def _test(grid: Grid, config: Config, items, args, log) -> None:  # type: ignore[no-untyped-def]
    """One cell on the test split, at the gammas of its search rows."""
    search = [GridRow(**r) for r in json.loads((args.out / "grid.json").read_text())]
    rows = []
    for dimension in DIMENSIONS:
        base = grid.base[dimension]
        for pole in ("affirm", "oppose"):
            found = next(
                r for r in search
                if r.config == config.name and r.dimension == dimension and r.pole == pole
            )  # fmt: skip
            make, make_control, _ = grid.factories(config, dimension, pole)
            edit = make(found.gamma)
            edited = grid.read(items[dimension], edit=edit).numpy()
            control = grid.read(items[dimension], edit=make_control(found.gamma)).numpy()
            s = summarize_shift(edited - base, toward=pole, control=control - base)
            row = GridRow(**{**asdict(found), **asdict(s), "cost": grid.cost(edit),
                             "selectivity": math.nan, "seconds": 0.0})  # fmt: skip
            rows.append(row)
            log(f"TEST {config.name} {dimension}.{pole}: shift {s.shift:+.4f} "
                f"[{s.ci_low:+.4f}, {s.ci_high:+.4f}] control {s.control_shift:+.4f} "
                f"p {s.p_control:.2g} ppl {row.cost:.3f}")  # fmt: skip
    safe = "".join(ch if ch.isalnum() else "-" for ch in config.name)
    write_rows(rows, args.out, name=f"test-{safe}")


if __name__ == "__main__":
    main()
