"""The server's decoding loop with its fast path against the reference path, on the real
stories260k model and a neuron run located on it: a mixed, left-padded batch (the dynamic
rule, mean-diff edits of a located sparse set and of a whole band, several dimensions
composed, unsteered rows) gives the same tokens and the same log-probabilities, bit for bit."""

from __future__ import annotations

import torch

import serve_fixtures as fx
from valuelocate.architectures import model_shape
from valuelocate.artifacts import load_neuron_sets
from valuelocate.comparison.linear import vector_edit
from valuelocate.prompting import stop_token_ids
from valuelocate.serve.decode import decode_batch
from valuelocate.serve.row import Row, TokenEvent
from valuelocate.steering.compose import compose
from valuelocate.steering.dynamic import steering_edit
from valuelocate.steering.mean_diff import band_edit

lm, run_dir = fx.lm, fx.run_dir  # the shared fixtures

pytestmark = fx.needs_stories

PROMPTS = ["Once upon a time", "The cat", "Lily saw a big", "Tom", "A dog ran to the", "Once"]


def _rows(lm, run_dir) -> list[Row]:  # type: ignore[no-untyped-def]
    sets = load_neuron_sets(run_dir)
    shape = model_shape(lm.model)
    layers, neurons = shape.num_layers, shape.neurons_per_layer
    generator = torch.Generator().manual_seed(0)
    flat = torch.randperm(layers * neurons, generator=generator)[: layers * neurons // 50]
    located = vector_edit(
        range(layers), neurons, flat, torch.randn(flat.numel(), generator=generator), gamma=2.0
    )
    band = band_edit(
        torch.randn(layers, neurons, dtype=torch.float64, generator=generator), [1, 2], gamma=0.5
    )
    edits = [
        (steering_edit(sets["conservation"], "affirm", 2.0), "generated"),
        (None, "generated"),
        (located, "all"),
        (
            compose(
                [
                    steering_edit(sets["conservation"], "oppose", 1.5, seed=3),
                    steering_edit(sets["self_enhancement"], "affirm", 3.0, seed=4),
                ]
            ),
            "generated",
        ),
        (compose([band, located.with_gamma(-1.0)]), "all"),
        (None, "all"),
    ]
    ids = [list(lm.tokenizer(p)["input_ids"]) for p in PROMPTS]
    return [
        Row(ids=i, edit=e, scope=s, max_tokens=12, logprobs=3)
        for i, (e, s) in zip(ids, edits, strict=True)
    ]


def _events(lm, run_dir, fast: bool, steered: bool = True) -> list[list[TokenEvent]]:  # type: ignore[no-untyped-def]
    rows = _rows(lm, run_dir)
    events: list[list[TokenEvent]] = [[] for _ in rows]
    for i, row in enumerate(rows):
        row.on_token = events[i].append
        row.edit = row.edit if steered else None
    stops = stop_token_ids(lm.model, lm.tokenizer)
    decode_batch(lm, rows, stop_ids=stops, site="act", tie_margin=0.0, fast=fast)
    return events


def test_fast_and_reference_paths_give_the_same_tokens_and_logprobs(lm, run_dir) -> None:  # type: ignore[no-untyped-def]
    fast = _events(lm, run_dir, True)
    reference = _events(lm, run_dir, False)
    assert fast == reference  # token ids, texts, log-probabilities and top-3, exactly
    assert all(len(e) > 3 for e in fast)
    plain = _events(lm, run_dir, True, steered=False)
    steered = [r.edit is not None for r in _rows(lm, run_dir)]
    for row, is_steered in enumerate(steered):
        assert (fast[row] != plain[row]) == is_steered, row
    assert fx.settled_hooks(lm.model) == 0


def _decode(
    lm, rows: list[Row], fast: bool, tie_margin: float
) -> tuple[list[list[TokenEvent]], list[int]]:  # type: ignore[no-untyped-def]
    """Each row's events, and the batch size of every forward call."""
    events: list[list[TokenEvent]] = [[] for _ in rows]
    for i, row in enumerate(rows):
        row.on_token = events[i].append
    sizes: list[int] = []
    handle = lm.model.register_forward_pre_hook(
        lambda _m, _a, kw: sizes.append(int(kw["input_ids"].shape[0])), with_kwargs=True
    )
    try:
        stops = stop_token_ids(lm.model, lm.tokenizer)
        decode_batch(lm, rows, stop_ids=stops, site="act", tie_margin=tie_margin, fast=fast)
    finally:
        handle.remove()
    return events, sizes


def _short_and_long(lm, run_dir) -> list[Row]:  # type: ignore[no-untyped-def]
    rows = _rows(lm, run_dir)
    for row, budget in zip(rows, [12, 3, 12, 5, 12, 1], strict=True):
        row.max_tokens = budget
    return rows


def test_rows_that_end_leave_the_batch_with_the_same_results(lm, run_dir) -> None:  # type: ignore[no-untyped-def]
    # Rows with budgets of 1, 3 and 5 tokens end early; from then on the model runs on the
    # rows still generating, and both paths still agree bit for bit.
    fast, sizes = _decode(lm, _short_and_long(lm, run_dir), True, 0.0)
    reference, reference_sizes = _decode(lm, _short_and_long(lm, run_dir), False, 0.0)
    assert fast == reference
    assert sizes == reference_sizes
    assert sizes[:2] == [6, 5]  # the 1-token row left after the prefill
    assert len(sizes) <= 12 and sizes[-1] <= 3, sizes  # at most the three 12-token rows
    budgets = [12, 3, 12, 5, 12, 1]
    assert all(
        len([e for e in ev if e.token_id >= 0]) <= b for ev, b in zip(fast, budgets, strict=True)
    )
    assert fx.settled_hooks(lm.model) == 0


def test_rows_that_stay_get_their_solo_tokens(lm, run_dir) -> None:  # type: ignore[no-untyped-def]
    # Greedy rows of a shrinking batch, each against the same row decoded alone: the same
    # tokens, unless the row left on a near tie (then the engine serves it again alone).
    rows = _short_and_long(lm, run_dir)
    batched, _ = _decode(lm, rows, True, 1e-3)
    for k, row in enumerate(rows):
        if row.retry_solo:
            continue
        alone, sizes = _decode(lm, [_short_and_long(lm, run_dir)[k]], True, 1e-3)
        assert set(sizes) == {1}
        assert [e.token_id for e in batched[k]] == [e.token_id for e in alone[0]], k
    assert sum(not r.retry_solo for r in rows) >= 4
