"""The comparison grid end to end on stories260k, and the ranking rule on hand-made rows."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace

import pytest
import torch

from forced_choice_items import Item
from valuelocate.comparison.grid import Config, Grid
from valuelocate.comparison.rows import score, write_rows
from valuelocate.models import load_model

from tiny_models import STORIES

needs_stories = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")


ITEMS = {
    "conservation": [
        Item("a", "conservation", "A girl found a box.", "She kept it safe.", "She ran off."),
        Item("b", "conservation", "The dog saw the park.", "He stayed.", "He ran to play."),
    ],
    "self_enhancement": [
        Item("c", "self_enhancement", "Tom had a kite.", "He won the race.", "He gave it away."),
        Item("d", "self_enhancement", "Sue had a cake.", "She sold it.", "She shared it."),
    ],
}


from forced_choice_items import make_row  # noqa: E402

_row = make_row


def test_score_counts_right_way_wins_within_budget():
    rows = [
        _row("affirm", 0.2, 0.0, 0.001),
        _row("oppose", -0.2, 0.0, 0.001),
        _row("oppose", 0.2, 0.0, 0.001),  # wrong way
        _row("affirm", 0.2, 0.0, 0.001, cost=1.2),  # over budget
        _row("affirm", 0.2, 0.0, 0.05),  # not significant
    ]
    wins, mean = score(rows)
    assert wins == 2
    assert mean == pytest.approx((0.2 + 0.2 - 0.2 + 0.2 + 0.2) / 5)


@needs_stories
def test_grid_runs_cells_and_writes_rows(tmp_path):
    lm = load_model(str(STORIES))
    grid = Grid(
        lm,
        ITEMS,
        budget=1.10,
        pairs_items=ITEMS,
        neutral_texts=["The cat sat on the mat."],
        steps=2,
    )
    cells = [
        Config("band", "pairs", "band", "mean-diff", band=(1, 2)),
        Config("prompt", "none", "none", "prompt"),
        Config("residual", "descriptions", "none", "residual", layer=2),
        Config("dyn", "pairs", "mean-diff", "dynamic", params={"v": "p", "top_k": 5}),
    ]
    rows = []
    for cell in cells:
        rows.extend(grid.run(cell, "conservation", selectivity=cell.name == "band"))
    assert [(r.config, r.pole) for r in rows] == [
        (c.name, p) for c in cells for p in ("affirm", "oppose")
    ]
    for r in rows:
        assert r.n == 2
        assert math.isfinite(r.shift)
        if r.rule != "prompt":
            # Within budget, or gamma 0 when every gamma tried was over it: then the cost
            # is measured at gamma 0 (the dynamic rule still clamps there), not assumed.
            assert r.gamma >= 0 and (r.cost <= 1.10 or r.gamma == 0)
            assert math.isfinite(r.p_control)
    assert math.isfinite(rows[0].selectivity)
    write_rows(rows, tmp_path)
    assert len(json.loads((tmp_path / "grid.json").read_text())) == len(rows)
    with (tmp_path / "grid.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)


def test_the_word_priming_cell_biases_the_logits_by_the_pairs_answers(stories_lm):
    from valuelocate.prompting import uses_chat
    from valuelocate.steering.word_priming import LogitBias, unigram_log_odds

    grid = Grid(stories_lm, ITEMS, budget=1.10, pairs_items=ITEMS,
                neutral_texts=["The cat sat on the mat."], steps=2)  # fmt: skip
    cell = Config("pairs+word-priming", "pairs", "none", "word-priming")
    # The bias is the log-odds of the pairs items' answers, tokenized as the reading scores
    # them (raw text: a leading space), over the model's whole vocabulary.
    lead = "" if uses_chat(stories_lm, True) else " "
    items = ITEMS["conservation"]
    expected = unigram_log_odds(
        stories_lm.tokenizer,
        [lead + i.affirm for i in items],
        [lead + i.oppose for i in items],
        vocab_size=stories_lm.model.config.vocab_size,
    )
    edit = grid.factories(cell, "conservation", "oppose").edit(2.0)
    assert isinstance(edit, LogitBias) and edit.sign == -1 and torch.equal(edit.bias, expected)
    rows = grid.run(cell, "conservation")
    assert [(r.rule, r.pole) for r in rows] == [("word-priming", "affirm"),
                                                 ("word-priming", "oppose")]  # fmt: skip
    for row in rows:
        assert row.neurons == stories_lm.model.config.vocab_size
        assert row.budget_reached and row.gamma > 0 and row.cost <= 1.10
        assert math.isfinite(row.p_control)
    # Primed by the very answers it reads, it moves the reading toward each pole.
    assert rows[0].shift > 0 > rows[1].shift
    with pytest.raises(ValueError, match="pairs source"):
        grid.factories(replace(cell, contrast="descriptions"), "conservation", "affirm")


@pytest.mark.parametrize("split", ["dev", "test"])
def test_the_word_priming_bias_is_never_built_from_dev_or_test_items(stories_lm, split):
    pairs = {"conservation": [replace(i, split=split) for i in ITEMS["conservation"]]}
    grid = Grid(stories_lm, ITEMS, pairs_items=pairs, neutral_texts=["The cat sat."], steps=1)
    cell = Config("pairs+word-priming", "pairs", "none", "word-priming")
    with pytest.raises(ValueError, match="never build an edit"):
        grid.factories(cell, "conservation", "affirm")


def test_a_down_in_cell_reads_and_edits_the_down_projection_s_input(stories_lm):
    from valuelocate.locating.contrast import pair_stats
    from valuelocate.steering.mean_diff import mean_difference

    grid = Grid(stories_lm, ITEMS, budget=1.10, pairs_items=ITEMS,
                neutral_texts=["The cat sat on the mat."], steps=2)  # fmt: skip
    act = Config("band", "pairs", "band", "mean-diff", band=(1, 2))
    down = replace(act, name="band@down_in", site="down_in")
    built = {cell.site: grid.factories(cell, "conservation", "affirm") for cell in (act, down)}
    edits = {site: b.edit(1.0) for site, b in built.items()}
    assert edits["down_in"].site == "down_in" and edits["act"].site == "act"
    assert built["down_in"].control(1.0).site == "down_in"
    # The deltas are the mean differences read at down_in (for this gated MLP, act * up:
    # not the act site's), recomputed here from scratch.
    stats = pair_stats(stories_lm, ITEMS["conservation"], site="down_in")
    diff = mean_difference(stats["affirm"], stats["oppose"])
    for layer in (1, 2):
        assert torch.allclose(edits["down_in"].deltas[layer], diff[layer])
        assert not torch.allclose(edits["down_in"].deltas[layer], edits["act"].deltas[layer])
    rows = grid.run(down, "conservation")
    assert [r.pole for r in rows] == ["affirm", "oppose"]
    assert all(math.isfinite(r.shift) and r.cost <= 1.10 for r in rows)
