"""The server's batched decoding loop (the scoring pass is in :mod:`valuelocate.serve.scoring`).

The decoding loop feeds the model exactly what ``model.generate`` feeds it (left-padded ids,
an attention mask only when there is padding, position ids from the mask, a dynamic cache,
``logits_to_keep=1``), so a request served alone gets ``generate``'s greedy answer bit for bit,
which is what ``valuelocate steer`` prints. Each row has its own edit (applied in place on its
neurons by :mod:`valuelocate.steering.rows`), sampling settings, token budget and stops.

Batching changes the shapes of the matrix products (M = batch rows), and CPU BLAS kernels round
differently for different M, so batched logits can differ from solo ones in the last bits
(measured: about 1e-5 on stories260k). A greedy row therefore checks, at every step of a
batch, that its best token leads the runner-up by more than ``tie_margin``; if not, the row is
served again alone from its start until it has chosen that token alone, then goes on in the
batch with its solo cache (where rows cannot join a batch, it is marked ``Row.retry_solo`` and
left for the caller to serve alone, with the tokens it has sent: ``Row.sent``). Either way the
tokens it had sent are fed, not chosen again. Under the documented bound (batch/solo
differences below half the margin) each greedy row gets exactly its solo tokens. A row's state,
the choice of its next token and how its tokens are reported are in
:mod:`valuelocate.serve.row`.

A row that ends (a stop, its token budget, a cancelled request, a near tie) leaves the batch at
once: its rows of the KV cache, the mask and the edits are dropped, so the rows still
generating do not pay for it (before, a batch ran every row until its longest one ended).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import Tensor

from valuelocate.architectures import Site
from valuelocate.forward import without_head
from valuelocate.hooks import edit_neurons
from valuelocate.models import LoadedModel
from valuelocate.serve import batch as batching
from valuelocate.serve.row import Row, Slot
from valuelocate.steering.compose import EditStack
from valuelocate.steering.rows import RowSteering, steer_rows


def decode_batch(
    lm: LoadedModel,
    rows: list[Row],
    *,
    stop_ids: list[int],
    site: Site,
    tie_margin: float = 1e-3,
    fast: bool = True,
    admit: Callable[[int], list[Row]] | None = None,
    max_rows: int = 0,
) -> None:
    """Generate every row together; report tokens and endings through the rows' callbacks.

    Rows whose greedy choice falls within ``tie_margin`` in a batch of several are marked
    ``retry_solo`` and left; the caller serves them again alone. The rows' edits are applied
    by :mod:`valuelocate.steering.rows` (in place, on the edited neurons only); ``fast=False``
    applies them by the reference path instead (a per-row ``EditStack`` through
    ``edit_neurons``), which gives the same results bit for bit, more slowly: for tests and
    profiles. A row that ends leaves the batch at once.

    ``admit(room)``, when given (the fast path), is asked between steps for at most ``room``
    new rows (``max_rows`` minus the rows generating); they are prefilled together and join
    the batch (:mod:`valuelocate.serve.batch`), unless the model's cache cannot be re-padded
    (a sliding window). A batch that started alone checks near ties once rows have joined.
    """
    if admit is not None and not fast:
        raise ValueError("Rows join a running batch on the fast path only")
    if any(r.max_tokens < 1 for r in rows):
        raise ValueError("Every row needs max_tokens >= 1")
    if any(r.sent for r in rows) and (len(rows) > 1 or not fast):
        raise ValueError("A row with tokens already sent is served alone, on the fast path")
    model, tokenizer = lm.model, lm.tokenizer
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    stops = set(stop_ids)
    batched = len(rows) > 1  # a batch that shrinks to one row still checks its near ties
    slots = [Slot.of(row, tokenizer) for row in rows]  # the rows still generating
    with torch.no_grad(), _row_edits(model, rows, site, fast) as row_edits:
        if rows[0].sent:  # served alone again after a near tie: what it sent is fed
            state, logits = _prefill_fed(model, slots[0], pad, device, stops)
        else:
            state, logits = batching.prefill(model, [r.ids for r in rows], pad, device)
        joinable = fast and batching.can_join(state)
        while True:
            tokens = [s.advance(logits[i], batched, tie_margin, stops) for i, s in enumerate(slots)]
            if isinstance(row_edits, EditStack):
                row_edits.phase = "decode"
            tied = [s.row for s in slots if s.row.retry_solo] if joinable else []
            live = [i for i, s in enumerate(slots) if not s.row.done]
            if live and len(live) < len(slots):  # rows that ended cost no more
                batching.keep(state, live)
                row_edits.keep_rows(live)
            slots, tokens = [slots[i] for i in live], [tokens[i] for i in live]
            for row in tied:  # served again alone up to its near tie, then back in the batch
                assert isinstance(row_edits, RowSteering)
                again = _alone_to_the_tie(model, tokenizer, row_edits, row, pad, stop_ids)
                if again is not None:
                    state, slots, tokens = _append(row_edits, (state, slots, tokens), again)
            room = max_rows - len(slots)
            joining = admit(room) if admit is not None and joinable and room > 0 else []
            if joining:
                assert isinstance(row_edits, RowSteering)
                batched = True
                state, slots, tokens = _join(
                    model, tokenizer, row_edits, (state, slots, tokens), joining, pad,
                    (tie_margin, stops),
                )  # fmt: skip
            if not slots:
                break
            logits = batching.step(model, state, tokens)
    for slot in slots:
        if not slot.row.done:
            slot.row.done = True
            slot.finish("length")


Piece = tuple[batching.Batch, list[Slot], list[int]]  # a batch, its rows, their next tokens


def _append(steering: RowSteering, current: Piece, piece: Piece) -> Piece:
    """``piece``'s rows added to the batch (the steering planned for them all)."""
    state, slots, tokens = current
    added, new, first = piece
    if new and slots:
        batching.join(state, added)
    elif new:
        state = added
    everyone = slots + new
    steering.replan([s.row.edit for s in everyone], [s.row.scope for s in everyone])
    return state, everyone, tokens + first


def _join(
    model: Any,
    tokenizer: Any,
    steering: RowSteering,
    current: Piece,
    rows: list[Row],
    pad: int,
    choice: tuple[float, set[int]],
) -> Piece:
    """``rows`` prefilled together under their own edits, their first tokens chosen and
    reported, and those still generating added to the batch."""
    tie_margin, stops = choice
    steering.replan([r.edit for r in rows], [r.scope for r in rows])  # the prefill's rows
    device = current[0].mask.device
    added, logits = batching.prefill(model, [r.ids for r in rows], pad, device)
    new = [Slot.of(r, tokenizer) for r in rows]
    first = [s.advance(logits[i], True, tie_margin, stops) for i, s in enumerate(new)]
    live = [i for i, s in enumerate(new) if not s.row.done]
    if live and len(live) < len(new):
        batching.keep(added, live)
    return _append(steering, current, (added, [new[i] for i in live], [first[i] for i in live]))


def _alone_to_the_tie(
    model: Any, tokenizer: Any, steering: RowSteering, row: Row, pad: int, stop_ids: list[int]
) -> Piece | None:
    """``row``, which left the batch on a near tie, served again alone from its start (the
    batch's hooks paused) until it has chosen, alone, the token it tied on: its solo cache
    and that token, to go on in the batch; ``None`` when it ends on the way. Only the tokens
    after those already sent are reported.

    The tokens before the tie are fed, not chosen again (:func:`_prefill_fed`)."""
    row.sent, row.generated, row.text = row.generated, [], ""  # the tied token is the next
    row.done = row.retry_solo = False
    row.retries += 1
    reset = getattr(row.edit, "reset", None)
    if callable(reset):
        reset()  # its draws start from the seed again, as alone
    slot, stops = Slot.of(row, tokenizer), set(stop_ids)
    alone = RowSteering([row.edit], [row.scope], site=steering.site)
    steering.paused = True
    start = time.perf_counter()
    try:
        with steer_rows(model, alone):  # no stop tokens: see _row_edits
            device = next(model.parameters()).device
            state, logits = _prefill_fed(model, slot, pad, device, stops)
            token = slot.advance(logits[0], False, 0.0, stops)  # the tied token, alone
    finally:
        steering.paused = False
        row.retry_seconds += time.perf_counter() - start
    return None if row.done else (state, [slot], [token])


def _prefill_fed(
    model: Any, slot: Slot, pad: int, device: torch.device, stops: set[int]
) -> tuple[batching.Batch, Tensor]:
    """The row's prompt prefilled alone and the tokens it has sent (``Row.sent``) fed after
    it, reported to the slot but not sent again: the row's solo cache and the logits of its
    next token.

    Each sent token was chosen alone or in a batch by more than the near-tie margin, so under
    the same bound it is the solo choice: it is fed, not chosen again, and the forwards whose
    logits nobody reads skip the output head (a ninth of a solo step on SmolLM2, most of one on
    Gemma's 262k vocabulary)."""
    known = slot.row.sent
    with without_head(model) if known else nullcontext():
        state, logits = batching.prefill(model, [slot.row.ids], pad, device)
        for token in known[:-1]:
            slot.feed(token, logits, stops)
            batching.step(model, state, [token])
    if known:
        slot.feed(known[-1], logits, stops)
        logits = batching.step(model, state, known[-1:])
    return state, logits


@contextmanager
def _row_edits(
    model: Any, rows: list[Row], site: Site, fast: bool
) -> Iterator[RowSteering | EditStack]:
    """The rows' edits on ``model``: the fast path's ``RowSteering`` or the reference
    ``EditStack``. The loop sets ``phase`` (which only the reference reads) and tells either
    which rows stay in the batch (``keep_rows``).

    Their scope trackers get no stop tokens: a row leaves the batch on its stop token, which
    is never fed, except in a row that ignores it (``Row.ignore_eos``), which stays steered.
    """
    edits, scopes = [r.edit for r in rows], [r.scope for r in rows]
    if fast:
        steering = RowSteering(edits, scopes, site=site)
        with steer_rows(model, steering):
            yield steering
        return
    stack = EditStack(edits, rows=1, scopes=scopes, site=site)
    with edit_neurons(model, stack, scope="all", site=site) as tracker:
        stack.tracker = tracker
        yield stack
