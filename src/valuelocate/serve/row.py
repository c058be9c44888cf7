"""One request's row in the server's decoding loop (:mod:`valuelocate.serve.decode`): its state
(:class:`Row`), how its next token is chosen (greedy or sampled; a greedy row in a batch leaves
on a near tie), and how its tokens are reported (:class:`TokenEvent`: incremental text that holds
back incomplete characters and stop-string prefixes, log-probabilities, the ending).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch import Tensor

from valuelocate.hooks import Edit


@dataclass
class TokenEvent:
    """One generated token: its id, the text it adds, its log-probability and the top ones."""

    token_id: int
    text: str
    logprob: float
    top: dict[str, float] | None


@dataclass(kw_only=True)
class Decoding:
    """How a generation chooses, ends and reports its tokens, as its request asked: the
    engine's job (:class:`~valuelocate.serve.engine.GenerateJob`) carries them to the
    :class:`Row` that serves it.

    ``ignore_eos``: the model's stop tokens do not end the row (it generates ``max_tokens``
    unless a stop string ends it); they are fed back like any token and the row stays steered.
    """

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    ignore_eos: bool = False
    logprobs: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def decoding(self) -> dict[str, Any]:
        """These fields as keywords, for the row that serves this request."""
        return {f.name: getattr(self, f.name) for f in fields(Decoding)}


@dataclass(kw_only=True)
class Row(Decoding):
    """One request's generation inside a batch.

    ``on_token(event)`` and ``on_done(finish_reason)`` are called from the engine thread.
    ``sent``: the tokens a row served again alone after a near tie has already sent; they
    are fed to the model after its prompt, not chosen or reported again.
    """

    ids: list[int]
    edit: Edit | None
    scope: str
    max_tokens: int
    on_token: Callable[[TokenEvent], None] = lambda e: None
    on_done: Callable[[str], None] = lambda r: None
    cancelled: threading.Event = field(default_factory=threading.Event)
    sent: list[int] = field(default_factory=list)
    retry_solo: bool = False
    retries: int = 0
    retry_seconds: float = 0.0  # spent serving it alone to its near ties
    generated: list[int] = field(default_factory=list)
    text: str = ""
    done: bool = False


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


def top_logprobs(tokenizer: Any, logprobs: Tensor, k: int) -> dict[str, float]:
    """The ``k`` most likely tokens' texts and log-probabilities."""
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


@dataclass
class Slot:
    """A row in the decoding loop, with its sampling generator and detokeniser."""

    row: Row
    generator: torch.Generator | None
    detok: _Detok

    @classmethod
    def of(cls, row: Row, tokenizer: Any) -> Slot:
        seeded = row.seed is not None and not row.greedy
        generator = torch.Generator().manual_seed(row.seed) if seeded else None  # type: ignore[arg-type]
        return cls(row, generator, _Detok(tokenizer, row.stop))

    def advance(self, logits: Tensor, batched: bool, tie_margin: float, stops: set[int]) -> int:
        """Choose and report the row's next token (-1 when it is over)."""
        token = _step_row(self.row, logits, self.generator, batched, tie_margin)
        if not self.row.done:
            self.feed(token, logits, stops)
        return token

    def feed(self, token: int, logits: Tensor, stops: set[int]) -> None:
        """Report ``token`` as the row's next one (``logits``, its step's, are read only for
        the log-probabilities of a token that is sent)."""
        stops = set() if self.row.ignore_eos else stops
        _report(self.row, token, logits, self.detok, self.detok.tokenizer, stops)

    def finish(self, reason: str) -> None:
        """End the row: what its detokeniser held back is sent, then its ending."""
        _finish(self.row, self.detok, reason)


def _step_row(
    row: Row,
    logits: Tensor,
    generator: torch.Generator | None,
    batched: bool,
    tie_margin: float,
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
        if row.logprobs is not None and len(row.generated) >= len(row.sent):
            # Log-likelihood clients count on the ending token's entry, as OpenAI gives it.
            logp = torch.log_softmax(logits.double(), dim=-1)
            top = top_logprobs(tokenizer, logp, row.logprobs) if row.logprobs > 0 else None
            row.on_token(TokenEvent(token, "", float(logp[token]), top))
        _finish(row, detok, "stop")
        return
    row.generated.append(token)
    delta, hit_stop = detok.push(row)
    if len(row.generated) > len(row.sent):
        logprob, top = 0.0, None
        if row.logprobs is not None:
            logp = torch.log_softmax(logits.double(), dim=-1)
            logprob = float(logp[token])
            top = top_logprobs(tokenizer, logp, row.logprobs) if row.logprobs > 0 else None
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
