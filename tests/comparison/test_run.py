"""`compare()` as a library call on the real stories260k model: a KL budget, the splits it
reads (search to choose, dev to check, never test), the time limit, and the choosing rule on
hand-made rows."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from forced_choice_items import make_row
from valuelocate.comparison import CompareOptions, compare
from valuelocate.comparison.rows import GridRow
from valuelocate.comparison.run import rank
from valuelocate.data.forced_choice import ForcedChoiceItem, load_forced_choice

from tiny_models import STORIES

needs_stories = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")

TINY = CompareOptions(
    model=str(STORIES),
    dimensions=("conservation",),
    cells=("desc+residual", "prompt-baseline"),
    items_per_dimension=2,
    test_items=2,
    neutral_texts=2,
    steps=1,
    start_gamma=2.0,
)


@needs_stories
def test_a_kl_budget_pushes_each_edit_to_that_kl(
    stories_lm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from valuelocate.comparison import run

    splits: list[str | None] = []

    def spy(**kwargs: Any) -> list[ForcedChoiceItem]:
        splits.append(kwargs.get("split"))
        return load_forced_choice(**kwargs)

    monkeypatch.setattr(run, "load_forced_choice", spy)
    seen: list[tuple[str, int, int]] = []
    result = compare(
        replace(TINY, budget="kl=0.02"),
        tmp_path,
        lm=stories_lm,
        progress=lambda text, done, total: seen.append((text, done, total)),
    )
    assert result.budget.kind == "kl" and result.budget.level == 0.02
    edits = [r for r in result.rows if r.rule != "prompt"]
    assert len(edits) == 2
    for row in edits:
        assert 0.0 < row.cost <= 0.02  # a mean token KL in nats, not a perplexity ratio
        assert row.gamma > 0 and math.isfinite(row.p_control)
    # The prompt baseline is a reference: never chosen, so the residual cell is.
    assert result.chosen == "desc+residual"
    assert [r.config for r in result.verdict] == ["desc+residual"] * 2
    record = json.loads((tmp_path / "compare.json").read_text())
    assert record["budget"] == "kl=0.02" and record["chosen"] == "desc+residual"
    assert "| kl |" in (tmp_path / "summary.md").read_text()
    assert seen[-1][1] == seen[-1][2] > 0  # the progress bar ends full
    # Chosen on search, checked on dev; the held-out test split is the main job's verdict's.
    assert set(splits) == {"search", "dev"}


@needs_stories
def test_also_test_reads_a_second_cell_beside_the_chosen_one(stories_lm, tmp_path: Path) -> None:
    cells = ("desc+band+mean-diff", "desc+residual")
    result = compare(replace(TINY, cells=cells, also_test=cells), tmp_path, lm=stories_lm)
    assert result.chosen in cells
    other = next(c for c in cells if c != result.chosen)
    # The chosen cell first, then the other, each at the gammas of its own search rows.
    assert [r.config for r in result.verdict] == [result.chosen] * 2 + [other] * 2
    for row in result.verdict:
        searched = next(r for r in result.rows if (r.config, r.pole) == (row.config, row.pole))
        assert row.gamma == searched.gamma and row.n == 2
    with pytest.raises(ValueError, match="--cells|--also-test"):
        replace(TINY, also_test=("no-such-cell",)).validate()


@needs_stories
def test_the_time_limit_stops_before_the_next_cell(stories_lm, tmp_path: Path) -> None:
    result = compare(replace(TINY, minutes=1e-9, skip_test=True), tmp_path, lm=stories_lm)
    assert result.rows == [] and result.chosen is None and result.verdict == []
    assert result.not_run == ["desc+residual", "prompt-baseline"]
    record = json.loads((tmp_path / "compare.json").read_text())
    assert record["not_run"] == result.not_run and record["test_read"] is False
    assert "Not run (time limit)" in (tmp_path / "summary.md").read_text()


def _row(cell: str, pole: str, shift: float, p: float, cost: float = 1.05) -> GridRow:
    return make_row(pole, shift, 0.0, p, cost=cost, config=cell)


def test_rank_counts_wins_then_mean_shift_and_never_ranks_the_prompt() -> None:
    rows = [
        _row("prompt-baseline", "affirm", 0.9, math.nan),
        _row("a", "affirm", 0.05, 0.001),
        _row("a", "oppose", -0.05, 0.5),  # right way, not significant
        _row("b", "affirm", 0.30, 0.5),
        _row("b", "oppose", -0.30, 0.5),  # larger shift, no win
        _row("c", "affirm", 0.40, 0.001, cost=1.5),  # over budget: no win
        _row("c", "oppose", -0.40, 0.5),
    ]
    ranked = rank(rows, budget=1.10)
    assert [r.cell for r in ranked] == ["a", "c", "b"]
    assert [r.wins for r in ranked] == [1, 0, 0]
    assert ranked[0].mean_toward == pytest.approx(0.05)


@needs_stories
def test_the_generated_cells_read_a_locate_runs_statistics(stories_lm, tmp_path: Path) -> None:
    from valuelocate.locating import LocateOptions, locate

    run_dir = tmp_path / "run"
    locate(
        LocateOptions(model=str(STORIES), dimensions=("conservation",), prompts_per_pole=3,
                      max_new_tokens=4, batch_size=3, checkpoint_seconds=0.0),
        run_dir,
        lm=stories_lm,
    )  # fmt: skip
    options = replace(TINY, cells=None, run_dir=str(run_dir), skip_test=True)
    # "all" with a locate run offers its generated cells, after the standard ones.
    assert [c.name for c in options.cells_for(5)][-2:] == [
        "located+dynamic",
        "generated+band+mean-diff",
    ]
    result = compare(replace(options, cells=("generated+band+mean-diff",)), tmp_path / "out",
                     lm=stories_lm)  # fmt: skip
    assert [(r.contrast, r.pole) for r in result.rows] == [
        ("generated", "affirm"),
        ("generated", "oppose"),
    ]
    first, last = (1, 4)  # default_band(5)
    assert all(r.neurons == (last - first + 1) * 172 and r.cost <= 1.10 for r in result.rows)
    assert result.chosen == "generated+band+mean-diff" and result.verdict == []


def test_the_pairs_source_never_locates_on_a_scored_search_item() -> None:
    from valuelocate.comparison.options import standard_cells
    from valuelocate.comparison.run import _held_out_pairs, _items
    from valuelocate.data.forced_choice import load_forced_choice

    cells = standard_cells(30)
    search = load_forced_choice(dimension="conservation", split="search")
    scored = _items("conservation", "search", 12)
    pairs = _held_out_pairs("conservation", scored, cells)
    assert {i.id for i in pairs}.isdisjoint({i.id for i in scored})
    assert len(pairs) + len(scored) == len(search)
    with pytest.raises(ValueError, match="--items-per-dimension"):
        _held_out_pairs("conservation", _items("conservation", "search", len(search) - 2), cells)
    # Without a pairs cell, scoring every search item is fine.
    no_pairs = [c for c in cells if c.contrast != "pairs"]
    assert _held_out_pairs("conservation", search, no_pairs) == []


def test_the_word_priming_null_is_never_ranked() -> None:
    rows = [
        _row("pairs+word-priming", "affirm", 0.9, 0.001),
        _row("pairs+word-priming", "oppose", -0.9, 0.001),
        _row("a", "affirm", 0.05, 0.5),
    ]
    assert [r.cell for r in rank(rows, budget=1.10)] == ["a"]


@needs_stories
def test_the_word_priming_null_reads_beside_the_chosen_cell(stories_lm, tmp_path: Path) -> None:
    cells = ("desc+residual", "pairs+word-priming")
    result = compare(replace(TINY, cells=cells, also_test=("pairs+word-priming",)), tmp_path,
                     lm=stories_lm)  # fmt: skip
    assert result.chosen == "desc+residual"
    assert [r.config for r in result.rows] == [c for c in cells for _ in range(2)]
    assert [r.config for r in result.verdict] == [c for c in cells for _ in range(2)]
    primed = [r for r in result.rows if r.rule == "word-priming"]
    assert all(r.cost <= 1.10 and r.neurons == stories_lm.model.config.vocab_size for r in primed)
