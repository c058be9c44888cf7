"""Rows that join a running batch (continuous batching) on the real stories260k model: the
batch's cache, mask and positions after :func:`~valuelocate.serve.batch.join` give each row the
logits it has alone (to float rounding), and rows admitted between steps of
:func:`~valuelocate.serve.decode.decode_batch`, steered and not, get their solo tokens."""

from __future__ import annotations

import torch

import serve_fixtures as fx
from valuelocate.artifacts import load_neuron_sets
from valuelocate.prompting import stop_token_ids
from valuelocate.serve import batch as batching
from valuelocate.serve.decode import Row, TokenEvent, decode_batch
from valuelocate.steering.dynamic import steering_edit

lm, run_dir = fx.lm, fx.run_dir  # the shared fixtures

pytestmark = fx.needs_stories

PROMPTS = ["Once upon a time", "The cat", "Lily saw a big red ball in the park and", "Tom"]


def _ids(lm, text: str) -> list[int]:  # type: ignore[no-untyped-def]
    return list(lm.tokenizer(text)["input_ids"])


def test_joined_rows_see_their_own_tokens_only(lm) -> None:  # type: ignore[no-untyped-def]
    model, pad = lm.model, lm.tokenizer.pad_token_id or 0
    device = torch.device("cpu")
    prompts = [_ids(lm, p) for p in PROMPTS]
    with torch.no_grad():
        state, _ = batching.prefill(model, prompts[:2], pad, device)
        batching.step(model, state, [7, 9])  # the first rows move on a step
        late, _ = batching.prefill(model, prompts[2:], pad, device)  # longer than the batch
        assert batching.can_join(state) and batching.can_join(late)
        batching.join(state, late)
        assert state.rows == 4 and state.mask.shape[1] == max(len(p) for p in prompts[2:])
        logits = batching.step(model, state, [3, 4, 5, 6])
        for row, (prompt, fed) in enumerate(zip(prompts, [[7, 3], [9, 4], [5], [6]], strict=True)):
            alone = model(input_ids=torch.tensor([prompt + fed])).logits[0, -1].float()
            assert torch.allclose(logits[row], alone, atol=1e-4), row
        batching.keep(state, [3, 1])
        assert state.rows == 2 and state.last.flatten().tolist() == [
            len(prompts[3]),
            len(prompts[1]) + 1,
        ]


def _rows(lm, run_dir) -> list[Row]:  # type: ignore[no-untyped-def]
    sets = load_neuron_sets(run_dir)
    edits = [
        None,
        steering_edit(sets["conservation"], "affirm", 2.0),
        None,
        steering_edit(sets["self_enhancement"], "oppose", 3.0, seed=2),
    ]
    return [
        Row(ids=_ids(lm, p), edit=e, scope="generated", max_tokens=m, logprobs=0)
        for p, e, m in zip(PROMPTS, edits, [10, 4, 8, 6], strict=True)
    ]


def _decode(lm, rows: list[Row], admit=None) -> list[list[TokenEvent]]:  # type: ignore[no-untyped-def]
    events: list[list[TokenEvent]] = [[] for _ in rows]
    for i, row in enumerate(rows):
        row.on_token = events[i].append
    stops = stop_token_ids(lm.model, lm.tokenizer)
    first = [r for r in rows if admit is None or r is rows[0]]
    decode_batch(lm, first, stop_ids=stops, site="act", admit=admit, max_rows=3)
    return events


def test_rows_admitted_between_steps_get_their_solo_tokens(lm, run_dir) -> None:  # type: ignore[no-untyped-def]
    rows = _rows(lm, run_dir)
    asked: list[int] = []
    waiting = rows[1:]

    def admit(room: int) -> list[Row]:  # one row after the 2nd step, from the 4th all it can
        asked.append(room)
        count = 1 if len(asked) == 2 else room if len(asked) >= 4 else 0
        taken = waiting[: min(count, room)]
        del waiting[: len(taken)]
        return taken

    joined = _decode(lm, rows, admit)
    assert not waiting and asked[:4] == [2, 2, 1, 1], asked  # max_rows 3
    for k in range(len(rows)):
        if rows[k].retry_solo:
            continue
        alone = _decode(lm, [_rows(lm, run_dir)[k]])[0]
        assert [e.token_id for e in joined[k]] == [e.token_id for e in alone], k
        for a, b in zip(joined[k], alone, strict=True):
            assert abs(a.logprob - b.logprob) < 1e-4
    assert sum(not r.retry_solo for r in rows) >= 3
    assert fx.settled_hooks(lm.model) == 0
