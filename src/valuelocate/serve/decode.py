"""The forward passes of the server: a batched decoding loop and a scoring pass.

The decoding loop feeds the model exactly what ``model.generate`` feeds it (left-padded ids,
an attention mask only when there is padding, position ids from the mask, a dynamic cache,
``logits_to_keep=1``), so a request served alone gets ``generate``'s greedy answer bit for bit,
which is what ``valuelocate steer`` prints. Each row has its own edit (applied in place on its
neurons by :mod:`valuelocate.steering.rows`), sampling settings, token budget and stops.

Batching changes the shapes of the matrix products (M = batch rows), and CPU BLAS kernels round
differently for different M, so batched logits can differ from solo ones in the last bits
(measured: about 1e-5 on stories260k). A greedy row therefore checks, at every step of a
batch, that its best token leads the runner-up by more than ``tie_margin``; if not, the row
leaves the batch and is served again alone (see ``Row.retry_solo``). Under the documented
bound (batch/solo differences below the margin) each greedy row gets exactly its solo tokens.

A row that ends (a stop, its token budget, a cancelled request, a near tie) leaves the batch at
once: its rows of the KV cache, the mask and the edits are dropped, so the rows still
generating do not pay for it (before, a batch ran every row until its longest one ended).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from transformers import DynamicCache

from valuelocate.architectures import Site
from valuelocate.hooks import Edit, edit_neurons
from valuelocate.models import LoadedModel
from valuelocate.steering.compose import EditStack
from valuelocate.steering.rows import RowSteering, steer_rows


@dataclass
class TokenEvent:
    """One generated token: its id, the text it adds, its log-probability and the top ones."""

    token_id: int
    text: str
    logprob: float
    top: dict[str, float] | None


@dataclass
class Row:
    """One request's generation inside a batch.

    ``on_token(event)`` and ``on_done(finish_reason)`` are called from the engine thread.
    ``skip`` tokens are computed but not reported (a row resumed alone after a near tie).
    """

    ids: list[int]
    edit: Edit | None
    scope: str
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    logprobs: int | None = None
    on_token: Callable[[TokenEvent], None] = lambda e: None
    on_done: Callable[[str], None] = lambda r: None
    cancelled: threading.Event = field(default_factory=threading.Event)
    skip: int = 0
    retry_solo: bool = False
    generated: list[int] = field(default_factory=list)
    text: str = ""
    done: bool = False

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


def _choose(row: Row, logits: Tensor, generator: torch.Generator | None) -> int:
    if row.greedy:
        return int(logits.argmax())
    scaled = logits / row.temperature
    probs = torch.softmax(scaled, dim=-1)
    if row.top_p < 1.0:
        sorted_p, order = probs.sort(descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < row.top_p  # always keeps the best token
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs, 1, generator=generator))


def _top(tokenizer: Any, logprobs: Tensor, k: int) -> dict[str, float]:
    values, ids = logprobs.topk(k)
    return {tokenizer.decode([int(i)]): float(v) for v, i in zip(values, ids, strict=True)}


class _Detok:
    """Incremental detokenisation that holds back incomplete characters and stop prefixes."""

    def __init__(self, tokenizer: Any, stops: list[str]) -> None:
        self.tokenizer = tokenizer
        self.stops = stops
        self.hold = max((len(s) for s in stops), default=1) - 1
        self.sent = 0

    def push(self, row: Row) -> tuple[str, bool]:
        """New text to report for ``row`` and whether a stop string ended it."""
        text = self.tokenizer.decode(row.generated, skip_special_tokens=True)
        for stop in self.stops:
            at = text.find(stop)
            if at >= 0:
                row.text = text[:at]
                return self._emit(row.text, final=True), True
        row.text = text
        return self._emit(text, final=False), False

    def _emit(self, text: str, *, final: bool) -> str:
        end = len(text) if final else len(text) - self.hold
        if not final and text.endswith("\ufffd"):
            end = min(end, len(text) - 1)
        if end <= self.sent:
            return ""
        out, self.sent = text[self.sent : end], end
        return out

    def flush(self, row: Row) -> str:
        return self._emit(row.text, final=True)


def decode_batch(
    lm: LoadedModel,
    rows: list[Row],
    *,
    stop_ids: list[int],
    site: Site,
    tie_margin: float = 1e-3,
    fast: bool = True,
) -> None:
    """Generate every row together; report tokens and endings through the rows' callbacks.

    Rows whose greedy choice falls within ``tie_margin`` in a batch of several are marked
    ``retry_solo`` and left; the caller serves them again alone. The rows' edits are applied
    by :mod:`valuelocate.steering.rows` (in place, on the edited neurons only); ``fast=False``
    applies them by the reference path instead (a per-row ``EditStack`` through
    ``edit_neurons``), which gives the same results bit for bit, more slowly: for tests and
    profiles.
    """
    model, tokenizer = lm.model, lm.tokenizer
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    width = max(len(r.ids) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row.ids) :] = torch.tensor(row.ids)
        mask[i, width - len(row.ids) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    padded = not bool(mask.all())
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    generators = [
        torch.Generator().manual_seed(r.seed) if r.seed is not None and not r.greedy else None
        for r in rows
    ]
    detoks = [_Detok(tokenizer, r.stop) for r in rows]
    stops = set(stop_ids)
    config: Any = model.config
    cache = DynamicCache(config=config.get_text_config(decoder=True))
    batched = len(rows) > 1  # a batch that shrinks to one row still checks its near ties
    batch = list(rows)  # the rows still generating: a row that ends leaves the batch
    with torch.no_grad(), _row_edits(model, rows, site, stop_ids, fast) as row_edits:
        step_ids = ids
        for _step in range(max(r.max_tokens for r in rows)):
            kwargs: dict[str, Any] = {"position_ids": positions, "cache": cache}
            if padded:
                kwargs["attention_mask"] = mask
            out = model(input_ids=step_ids, use_cache=True, logits_to_keep=1, **kwargs)
            logits = out.logits[:, -1, :].float()
            next_ids = []
            for i, row in enumerate(batch):
                token = _step_row(row, logits[i], generators[i], batched, tie_margin, stops)
                if not row.done:
                    _report(row, token, logits[i], detoks[i], tokenizer, stops)
                next_ids.append(token)
            live = [i for i, row in enumerate(batch) if not row.done]
            if not live:
                break
            if isinstance(row_edits, EditStack):
                row_edits.phase = "decode"
            if len(live) < len(batch):  # rows that ended (or left on a near tie) cost no more
                index = torch.tensor(live, device=device)
                cache.batch_select_indices(index)
                mask, positions = mask[index], positions[index]
                row_edits.keep_rows(live)
                batch = [batch[i] for i in live]
                generators = [generators[i] for i in live]
                detoks = [detoks[i] for i in live]
                next_ids = [next_ids[i] for i in live]
            step_ids = torch.tensor(next_ids, device=device)[:, None]
            mask = torch.cat([mask, mask.new_ones(len(batch), 1)], dim=1)
            positions = positions[:, -1:] + 1
    for row, detok in zip(batch, detoks, strict=True):
        if not row.done:
            row.done = True
            _finish(row, detok, "length")


@contextmanager
def _row_edits(
    model: Any, rows: list[Row], site: Site, stop_ids: list[int], fast: bool
) -> Iterator[RowSteering | EditStack]:
    """The rows' edits on ``model``: the fast path's ``RowSteering`` or the reference
    ``EditStack``. The loop sets ``phase`` (which only the reference reads) and tells either
    which rows stay in the batch (``keep_rows``)."""
    edits, scopes = [r.edit for r in rows], [r.scope for r in rows]
    if fast:
        steering = RowSteering(edits, scopes, site=site)
        with steer_rows(model, steering, stop_token_ids=stop_ids):
            yield steering
        return
    stack = EditStack(edits, rows=1, scopes=scopes, site=site)
    with edit_neurons(model, stack, scope="all", site=site, stop_token_ids=stop_ids) as tracker:
        stack.tracker = tracker
        yield stack


def _step_row(
    row: Row,
    logits: Tensor,
    generator: torch.Generator | None,
    batched: bool,
    tie_margin: float,
    stops: set[int],
) -> int:
    """The row's next token, or -1 when the row is over (cancelled, or left on a near tie)."""
    if row.done:
        return -1
    if row.cancelled.is_set():
        row.done = True
        row.on_done("cancelled")
        return -1
    if batched and row.greedy:
        best = logits.topk(2).values
        if float(best[0] - best[1]) < tie_margin:
            row.done = True
            row.retry_solo = True
            return -1
    return _choose(row, logits, generator)


def _report(
    row: Row, token: int, logits: Tensor, detok: _Detok, tokenizer: Any, stops: set[int]
) -> None:
    if token in stops:
        row.done = True
        if row.logprobs is not None and len(row.generated) >= row.skip:
            # Log-likelihood clients count on the ending token's entry, as OpenAI gives it.
            logp = torch.log_softmax(logits.double(), dim=-1)
            top = _top(tokenizer, logp, row.logprobs) if row.logprobs > 0 else None
            row.on_token(TokenEvent(token, "", float(logp[token]), top))
        _finish(row, detok, "stop")
        return
    row.generated.append(token)
    delta, hit_stop = detok.push(row)
    if len(row.generated) > row.skip:
        logprob, top = 0.0, None
        if row.logprobs is not None:
            logp = torch.log_softmax(logits.double(), dim=-1)
            logprob = float(logp[token])
            top = _top(tokenizer, logp, row.logprobs) if row.logprobs > 0 else None
        row.on_token(TokenEvent(token, delta, logprob, top))
    # else: the batch this row left already reported this token and its text; the detokeniser
    # advanced its offset all the same, so the resumed row reports only what follows.
    if hit_stop:
        row.done = True
        _finish(row, detok, "stop")
    elif len(row.generated) >= row.max_tokens:
        row.done = True
        _finish(row, detok, "length")


def _finish(row: Row, detok: _Detok, reason: str) -> None:
    tail = detok.flush(row)
    if tail:
        row.on_token(TokenEvent(-1, tail, math.nan, None))
    row.on_done(reason)


@dataclass
class Scored:
    """Per-token results of a scoring pass over a prompt (the first token has no logprob)."""

    tokens: list[str]
    token_ids: list[int]
    logprobs: list[float | None]
    top: list[dict[str, float] | None]


def score(
    lm: LoadedModel, ids: list[int], *, edit: Edit | None, scope: str, site: Site, top_k: int
) -> Scored:
    """Log-probability of every prompt token given the ones before, in one forward pass,
    under ``edit`` at the positions of ``scope`` (the prompt counts as prompt positions)."""
    model, tokenizer = lm.model, lm.tokenizer
    device = next(model.parameters()).device
    x = torch.tensor([ids], device=device)
    with torch.no_grad():
        if edit is None or scope == "generated":
            logits = model(input_ids=x, use_cache=False).logits[0]
        else:
            with edit_neurons(model, edit, scope="all", site=site):
                logits = model(input_ids=x, use_cache=False).logits[0]
    logp = torch.log_softmax(logits.double(), dim=-1)  # [seq, vocab]
    values: list[float | None] = [None]
    tops: list[dict[str, float] | None] = [None]
    for pos in range(1, len(ids)):
        values.append(float(logp[pos - 1, ids[pos]]))
        tops.append(_top(tokenizer, logp[pos - 1], top_k) if top_k > 0 else None)
    tokens = [tokenizer.decode([i]) for i in ids]
    return Scored(tokens, list(ids), values, tops)
