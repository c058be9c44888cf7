"""Rows that join a running batch (continuous batching) on the real stories260k model: the
batch's cache, mask and positions after :func:`~valuelocate.serve.batch.join` give each row the
logits it has alone (to float rounding), and rows admitted between steps of
:func:`~valuelocate.serve.decode.decode_batch`, steered and not, get their solo tokens."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
import transformers

import serve_fixtures as fx
from valuelocate.artifacts import load_neuron_sets
from valuelocate.forward import output_module
from valuelocate.hooks import edit_neurons
from valuelocate.models import LoadedModel
from valuelocate.prompting import stop_token_ids
from valuelocate.serve import batch as batching
from valuelocate.serve.decode import decode_batch
from valuelocate.serve.engine import Engine, GenerateJob
from valuelocate.serve.row import Row, TokenEvent
from valuelocate.serve.server import build_catalog
from valuelocate.serve.steering import Steering
from valuelocate.steering.dynamic import steering_edit
from valuelocate.steering.simple import add_edit

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
        # the columns that were padding in both remaining rows are gone, and they read on
        width = max(len(prompts[3]) + 1, len(prompts[1]) + 2)
        assert state.mask.shape[1] == width == state.cache.get_seq_length()
        logits = batching.step(model, state, [8, 10])
        for row, seen in ((0, prompts[3] + [6, 8]), (1, prompts[1] + [9, 4, 10])):
            alone = model(input_ids=torch.tensor([seen])).logits[0, -1].float()
            assert torch.allclose(logits[row], alone, atol=1e-4), row


def _rows(lm, run_dir) -> list[Row]:  # type: ignore[no-untyped-def]
    sets = load_neuron_sets(run_dir)
    edits = [
        None,
        steering_edit(sets["conservation"], "affirm", 2.0),
        None,
        steering_edit(sets["conservation"], "oppose", 3.0, seed=4),
    ]
    return [
        Row(ids=_ids(lm, p), edit=e, scope="generated", max_tokens=m, logprobs=0)
        for p, e, m in zip(PROMPTS, edits, [10, 4, 8, 6], strict=True)
    ]


@contextmanager
def _head_widths(model: torch.nn.Module) -> Iterator[list[int]]:
    """The width of every output the model's head gives while the block runs (1: skipped)."""
    widths: list[int] = []
    head = output_module(model).register_forward_hook(
        lambda m, i, out: widths.append(out.shape[-1])
    )
    try:
        yield widths
    finally:
        head.remove()


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
    for k in (1, 3):  # steered rows joined a batch that started unsteered: their edits acted
        plain = _rows(lm, run_dir)[k]
        plain.edit = None
        assert [e.token_id for e in joined[k]] != [e.token_id for e in _decode(lm, [plain])[0]]
    assert fx.settled_hooks(lm.model) == 0


class _Failing:
    """An edit that raises at its ``fail_at``-th call (a rule with a bug)."""

    site = "act"

    def __init__(self, fail_at: int) -> None:
        self.calls, self.fail_at = 0, fail_at

    def layers(self) -> list[int]:
        return [0]

    def edit(self, layer: int, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("a rule with a bug")
        return torch.arange(values.shape[-1]), values

    def reset(self) -> None:
        self.calls = 0


def test_a_failing_row_fails_only_the_open_requests_of_its_batch(lm, run_dir) -> None:  # type: ignore[no-untyped-def]
    # One short request ends early; then a row joins and another's edit raises: the requests
    # still open get an error, the finished one keeps its single ending, the engine serves on.
    catalog = build_catalog(lm, run_dir, name="s", max_gamma=4.0, alias_gamma=1.0)
    engine = Engine(lm, catalog, max_batch=4, batch_window=0.05)
    endings: dict[str, list[str]] = {}
    done = threading.Event()

    def job(name: str, max_tokens: int, edit: object = None) -> GenerateJob:
        def on_done(reason: str, exc: Exception | None, _name: str = name) -> None:
            endings.setdefault(_name, []).append(reason)
            if len(endings) == 4:
                done.set()

        return GenerateJob(
            ids=_ids(lm, PROMPTS[0]), steering=Steering(), max_tokens=max_tokens,
            on_token=lambda e: None, on_done=on_done, edit=edit, admitted=edit is not None,
        )  # fmt: skip

    engine.start()
    try:
        engine.submit(job("short", 1))
        engine.submit(job("long", 40))
        engine.submit(job("failing", 40, _Failing(fail_at=6)))
        time.sleep(0.01)
        engine.submit(job("late", 40))
        assert done.wait(60), endings
        assert endings["short"] == ["length"]
        assert endings["failing"] == ["error"] and endings["long"] == ["error"]
        assert endings["late"] in (["error"], ["length"], ["stop"])
        assert engine.held == 0
        again: list[str] = []
        finished = threading.Event()
        engine.submit(
            GenerateJob(
                ids=_ids(lm, PROMPTS[1]), steering=Steering(), max_tokens=3,
                on_token=lambda e: None,
                on_done=lambda r, e: (again.append(r), finished.set()),  # type: ignore[func-returns-value]
            )
        )  # fmt: skip
        assert finished.wait(30) and again == ["length"]
    finally:
        engine.close()
    assert fx.settled_hooks(lm.model) == 0


def test_rows_that_tie_go_alone_to_the_tie_and_come_back(lm, run_dir) -> None:  # type: ignore[no-untyped-def]
    # With a margin no step can clear, every batched step is a near tie: each row is served
    # alone up to that token, rejoins, and ties again. So every token a row reports comes from
    # its solo computation: tokens, texts and log-probabilities equal its solo run exactly.
    # A row's tokens before its tie are fed to the solo run, the output head skipped: its
    # r-th run alone (r - 1 tokens known) computes the head once, for the tied token.
    rows = _rows(lm, run_dir)
    events: list[list[TokenEvent]] = [[] for _ in rows]
    for i, row in enumerate(rows):
        row.on_token = events[i].append
    stops = stop_token_ids(lm.model, lm.tokenizer)
    with _head_widths(lm.model) as widths:
        decode_batch(lm, rows, stop_ids=stops, site="act", tie_margin=1e9)
    for k, row in enumerate(rows):
        assert _decode(lm, [_rows(lm, run_dir)[k]])[0] == events[k], k
        assert row.retries >= 1 and not row.retry_solo and row.done and row.retry_seconds > 0
    skipped = sum(r.retries * (r.retries - 1) // 2 for r in rows)
    assert skipped > 0 and widths.count(1) == skipped
    assert fx.settled_hooks(lm.model) == 0


def test_steering_goes_on_after_the_longest_row_leaves(lm, run_dir) -> None:  # type: ignore[no-untyped-def]
    # The longest prompt ends after one token; the batch drops the columns that were its
    # alone, and the steered rows (generated scope) are still steered at every step after.
    sets = load_neuron_sets(run_dir)
    long = "Lily saw a big red ball in the park and she ran to get it because"

    def rows() -> list[Row]:
        edit = steering_edit(sets["conservation"], "oppose", 3.0, seed=4)
        return [
            Row(ids=_ids(lm, long), edit=None, scope="generated", max_tokens=1),
            Row(ids=_ids(lm, "Tom"), edit=edit, scope="generated", max_tokens=10),
        ]

    batch = rows()
    joined = _decode(lm, batch)
    alone = _decode(lm, [rows()[1]])[0]
    plain = rows()[1]
    plain.edit = None
    assert [e.token_id for e in joined[1]] == [e.token_id for e in alone]
    assert [e.token_id for e in alone] != [e.token_id for e in _decode(lm, [plain])[0]]


@pytest.mark.parametrize("tie_margin", [1e-3, 1e9])
def test_a_row_that_ignores_its_stop_token_is_fed_it_and_stays_steered(  # type: ignore[no-untyped-def]
    lm, run_dir, tie_margin: float
) -> None:
    # The stories model does not end its stories within these budgets: its period stands in
    # for the stop token. A row ends at its first period; the same row with ``ignore_eos``
    # goes on to its budget, fed the periods like any token and steered at every position:
    # its tokens and log-probabilities are those of one forward of its whole text under the
    # edit, where the edit changes them after the first period (so a row left unsteered
    # there would not match). In a batch with an unsteered row; with a margin no step
    # clears, also when every token is chosen alone after the tokens before it were fed
    # (the periods among them end nothing).
    edit = add_edit(load_neuron_sets(run_dir)["conservation"].affirm, 2.0)
    ids = _ids(lm, "Once upon a time")
    period = fx.period_id(lm)

    def row(ignore_eos: bool, steered: bool = True) -> Row:
        return Row(
            ids=ids, edit=edit if steered else None, scope="all", max_tokens=40, logprobs=0,
            ignore_eos=ignore_eos,
        )  # fmt: skip

    rows = [row(False), row(True), row(True, steered=False)]
    events: list[list[TokenEvent]] = [[] for _ in rows]
    for i, r in enumerate(rows):
        r.on_token = events[i].append
    decode_batch(lm, rows, stop_ids=[period], site="act", tie_margin=tie_margin)
    stopped, going = rows[0].generated, rows[1].generated
    assert period not in stopped and going[: len(stopped) + 1] == stopped + [period]
    assert len(going) == 40
    full = torch.tensor([ids + going[:-1]])
    with torch.no_grad():
        with edit_neurons(lm.model, edit, scope="all"):
            edited = torch.log_softmax(lm.model(input_ids=full).logits[0, len(ids) - 1 :], -1)
        plain = torch.log_softmax(lm.model(input_ids=full).logits[0, len(ids) - 1 :], -1)
    assert edited.argmax(-1).tolist() == going
    reported = torch.tensor([e.logprob for e in events[1] if e.token_id >= 0], dtype=torch.float64)
    chosen = edited.gather(1, torch.tensor(going)[:, None])[:, 0]
    assert torch.allclose(reported, chosen.double(), atol=1e-4)
    after = len(stopped) + 1
    assert (edited[after:] - plain[after:]).abs().max() > 0.1  # the edit matters there
    assert fx.settled_hooks(lm.model) == 0


def test_a_row_served_alone_again_is_fed_what_it_sent(lm) -> None:  # type: ignore[no-untyped-def]
    # A sliding-window model (a tiny Gemma 3 whose window the prompt outgrows): its near-tie
    # rows cannot rejoin a batch, so the engine serves each alone again after the batch, with
    # the tokens it had sent (``Row.sent``). They are fed, not chosen or reported again, their
    # forwards without the output head; the rest equals the row's solo run, to the bit.
    config = transformers.Gemma3TextConfig(
        vocab_size=len(lm.tokenizer), hidden_size=64, intermediate_size=96, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, sliding_window=4,
        pad_token_id=lm.tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    tiny = LoadedModel(
        transformers.Gemma3ForCausalLM(config).eval(), lm.tokenizer, "tiny-gemma3", "the test",
        None, "tiny-gemma3",
    )  # fmt: skip
    ids = _ids(lm, PROMPTS[2])
    with torch.no_grad():
        state, _ = batching.prefill(tiny.model, [ids], 0, torch.device("cpu"))
    assert not batching.can_join(state)

    def served(sent: list[int]) -> tuple[Row, list[TokenEvent], list[int]]:
        row = Row(ids=ids, edit=None, scope="all", max_tokens=8, logprobs=2, sent=list(sent))
        events: list[TokenEvent] = []
        row.on_token = events.append
        with _head_widths(tiny.model) as widths:
            decode_batch(tiny, [row], stop_ids=[], site="act")
        return row, events, widths

    alone, events, widths = served([])
    again, resumed, fed_widths = served(alone.generated[:3])
    assert again.generated == alone.generated and len(alone.generated) == 8
    assert resumed == events[3:]
    assert widths.count(1) == 0 and fed_widths.count(1) == 3  # prefill and two fed steps
    assert len(fed_widths) == len(widths)  # the same forwards
