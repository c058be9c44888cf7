"""The work behind the routes: one :class:`Service` per app.

It encodes prompts and chats, checks their length against the context, submits jobs to the
:class:`~valuelocate.serve.engine.Engine` thread, gathers or streams what comes back through
per-request queues, and writes the request log: one line per request with its id, model,
steering, the time building its steering took (``admission``) and whether the steering cache
answered, tokens, time (and the texts only with ``log_text``); the API key is never logged.
A request's steering is built here, at admission (:meth:`Engine.admit`), not on the engine's
thread.
The bodies themselves are built by :mod:`valuelocate.serve.responses`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from valuelocate.serve import responses
from valuelocate.serve.engine import Engine, GenerateJob, QueueFull, ScoreJob
from valuelocate.serve.responses import CompletionChoice, sse
from valuelocate.serve.row import TokenEvent
from valuelocate.serve.schema import ApiError, ChatRequest, CompletionRequest, Sampling, bad
from valuelocate.serve.scoring import Scored
from valuelocate.serve.steering import Admission, Steering

log = logging.getLogger("valuelocate.serve")

Reply = dict[str, Any] | AsyncIterator[str]
"""A whole body, or the server-sent events of a stream."""


@dataclass
class ServeConfig:
    """Settings of one server.

    Attributes:
        api_key: when set, every request must carry ``Authorization: Bearer <key>``.
        log_text: also log prompts and answers.
        default_max_tokens: ``max_tokens`` when a request gives none.
        max_tokens_limit: the largest ``max_tokens`` accepted.
        context_limit: prompt plus ``max_tokens`` must fit (the model's positions).
    """

    api_key: str | None = None
    log_text: bool = False
    default_max_tokens: int = 64
    max_tokens_limit: int = 1024
    context_limit: int = 2048
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass
class _Outcome:
    """What one generation produced, gathered on the event loop."""

    text: str = ""
    tokens: list[TokenEvent] = field(default_factory=list)
    finish: str = "length"


class _Channel:
    """Carries engine-thread callbacks into an asyncio queue."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    def put(self, *item: Any) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


class Service:
    """Serves ``engine``'s model and its steered aliases under ``config``."""

    def __init__(self, engine: Engine, config: ServeConfig) -> None:
        self.engine, self.config = engine, config
        self.catalog = engine.catalog
        self.tokenizer = engine.lm.tokenizer
        self.vocab = len(self.tokenizer)

    def models(self) -> dict[str, Any]:
        """The model list: the base model, then its aliases."""
        names = [self.catalog.base_name, *self.catalog.aliases()]
        return responses.model_list(names, self.config.created)

    # ----------------------------------------------------------------------- requests

    async def chat(self, req: ChatRequest, start: float) -> Reply:
        """A chat completion, whole or streamed; ``start`` is when the request came in."""
        ids = self.encode_chat(req.messages)
        self.check_length(ids, req.sampling, "messages")
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        channel = _Channel()
        admitted: list[Admission] = []
        job = self._generate_job(ids, req.steering, req.sampling, channel, admitted)
        self.submit(job)
        if req.sampling.stream:
            return self._stream(
                rid, "chat.completion.chunk", req.model, req.steering, ids, job, channel, True,
                admitted,
            )  # fmt: skip
        try:
            outcome = await self._collect(channel)
        finally:
            job.cancelled.set()
        n = sum(t.token_id >= 0 for t in outcome.tokens)
        self.log_request(
            rid,
            req.model,
            req.steering,
            len(ids),
            n,
            start,
            outcome.finish,
            (self.tokenizer.decode(ids), outcome.text),
            admitted,
        )
        return responses.chat_completion(
            rid,
            req.model,
            outcome.text,
            outcome.finish,
            responses.usage(len(ids), n),
            req.steering,
        )

    async def completions(self, req: CompletionRequest, start: float) -> Reply:
        """Text completions, a choice per prompt, or one prompt's streamed."""
        all_ids = [self.encode_prompt(p) for p in req.prompts]
        for ids in all_ids:
            self.check_length(ids, req.sampling, "prompt")
        rid = f"cmpl-{uuid.uuid4().hex[:24]}"
        if req.sampling.stream:
            if len(all_ids) != 1:
                raise bad("Streaming takes a single prompt", "prompt")
            channel = _Channel()
            admitted: list[Admission] = []
            job = self._generate_job(all_ids[0], req.steering, req.sampling, channel, admitted)
            self.submit(job)
            return self._stream(
                rid, "text_completion", req.model, req.steering, all_ids[0], job, channel, False,
                admitted,
            )  # fmt: skip
        admitted = []  # the prompts' jobs
        done = await asyncio.gather(
            *(self._one_completion(req, i, ids, admitted) for i, ids in enumerate(all_ids))
        )
        choices = [choice for choice, _ in done]
        prompt_n = sum(len(ids) for ids in all_ids)
        out_n = sum(n for _, n in done)
        self.log_request(
            rid,
            req.model,
            req.steering,
            prompt_n,
            out_n,
            start,
            ",".join(c["finish_reason"] for c in choices),
            (repr(req.prompts), repr([c["text"] for c in choices])),
            admitted,
        )
        return responses.completion(
            rid, req.model, choices, responses.usage(prompt_n, out_n), req.steering
        )

    async def _one_completion(
        self, req: CompletionRequest, index: int, ids: list[int], admitted: list[Admission]
    ) -> tuple[CompletionChoice, int]:
        """One prompt's choice and the count of its generated tokens."""
        scored: Scored | None = None
        if req.echo and req.logprobs is not None:
            channel = _Channel()
            admission = self.engine.admit(req.steering)
            admitted.append(admission)
            self.submit(
                ScoreJob(
                    ids,
                    _scoring(req.steering),
                    req.logprobs,
                    lambda s, exc: channel.put("scored", s, exc),
                    edit=admission.edit,
                    admitted=True,
                )
            )
            _, scored, exc = await channel.queue.get()
            if exc is not None:
                raise exc
        outcome = _Outcome(finish="length")
        if req.sampling.max_tokens > 0:
            channel = _Channel()
            job = self._generate_job(
                ids, req.steering, req.sampling, channel, admitted, logprobs=req.logprobs
            )
            self.submit(job)
            try:
                outcome = await self._collect(channel)
            finally:
                job.cancelled.set()
        prefix = self.tokenizer.decode(ids) if req.echo else ""
        choice = responses.completion_choice(index, prefix + outcome.text, outcome.finish)
        if req.logprobs is not None:
            choice["logprobs"] = responses.logprobs(
                self.tokenizer, scored, outcome.tokens, len(prefix)
            )
        return choice, sum(t.token_id >= 0 for t in outcome.tokens)

    # ----------------------------------------------------------------------- the parts

    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]:
        """The chat's token ids, through the chat template when the tokenizer has one."""
        tokenizer = self.tokenizer
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])
        # No template (base models): the turns' texts, as `valuelocate steer` feeds a prompt.
        text = "\n".join(m["content"] for m in messages)
        return list(tokenizer(text)["input_ids"])

    def encode_prompt(self, prompt: str | list[int]) -> list[int]:
        """A prompt's token ids (a list of ids is checked against the vocabulary)."""
        if isinstance(prompt, str):
            return list(self.tokenizer(prompt)["input_ids"])
        if any(not 0 <= i < self.vocab for i in prompt):
            raise bad(f"prompt holds a token id outside the vocabulary [0, {self.vocab})", "prompt")
        return prompt

    def check_length(self, ids: list[int], sampling: Sampling, param: str) -> None:
        """A 400 when the prompt and ``max_tokens`` exceed the context."""
        limit = self.config.context_limit
        if len(ids) + sampling.max_tokens > limit:
            raise ApiError(
                400,
                f"{param} has {len(ids)} tokens; with max_tokens = {sampling.max_tokens} that "
                f"exceeds the context limit of {limit} tokens",
                param=param,
                code="context_length_exceeded",
            )

    def submit(self, job: GenerateJob | ScoreJob) -> None:
        """Queue ``job`` on the engine; a 429 when the queue is full."""
        try:
            self.engine.submit(job)
        except QueueFull as exc:
            raise ApiError(
                429, f"{exc}; retry later", code="rate_limit_exceeded", kind="rate_limit_error"
            ) from None

    def _generate_job(
        self,
        ids: list[int],
        steering: Steering,
        sampling: Sampling,
        channel: _Channel,
        admitted: list[Admission],
        **extra: Any,
    ) -> GenerateJob:
        """The job of one generation, its steering built now (appended to ``admitted``)."""
        admission = self.engine.admit(steering)
        admitted.append(admission)
        return GenerateJob(
            edit=admission.edit,
            admitted=True,
            ids=ids,
            steering=steering,
            max_tokens=sampling.max_tokens,
            on_token=lambda e: channel.put("token", e),
            on_done=lambda r, exc: channel.put("done", r, exc),
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            seed=sampling.seed,
            stop=sampling.stop,
            ignore_eos=sampling.ignore_eos,
            **extra,
        )

    async def _collect(self, channel: _Channel) -> _Outcome:
        """Gather a generation's tokens until it is done (raising its error, if any)."""
        outcome = _Outcome()
        while True:
            kind, *rest = await channel.queue.get()
            if kind == "token":
                outcome.tokens.append(rest[0])
                outcome.text += rest[0].text
            else:
                reason, exc = rest
                if exc is not None:
                    raise exc
                outcome.finish = reason
                return outcome

    async def _stream(
        self,
        rid: str,
        obj: str,
        model: str,
        steering: Steering,
        ids: list[int],
        job: GenerateJob,
        channel: _Channel,
        chat: bool,
        admitted: list[Admission],
    ) -> AsyncIterator[str]:
        """A generation's server-sent events: a chunk per token, then ``usage`` and
        ``[DONE]``; a client that goes away cancels the job."""
        start, count, status, text = time.perf_counter(), 0, "cancelled", ""

        def chunk(delta: str | None, finish: str | None) -> dict[str, Any]:
            return responses.stream_chunk(rid, obj, model, delta, finish, chat=chat)

        try:
            if chat:
                yield sse(chunk("", None))
            while True:
                kind, *rest = await channel.queue.get()
                if kind == "token":
                    event: TokenEvent = rest[0]
                    count += event.token_id >= 0
                    text += event.text
                    if event.text:
                        yield sse(chunk(event.text, None))
                    continue
                reason, exc = rest
                if exc is not None:
                    status = "error"
                    yield sse(
                        ApiError(
                            500, "Generation failed", code="server_error", kind="server_error"
                        ).body()
                    )
                    break
                status = reason
                final = chunk(None, reason)
                final["usage"] = responses.usage(len(ids), count)
                yield sse(final)
                yield "data: [DONE]\n\n"
                break
        finally:
            job.cancelled.set()  # a client that went away frees its slot at the next token
            self.log_request(
                rid,
                model,
                steering,
                len(ids),
                count,
                start,
                status,
                (self.tokenizer.decode(ids), text),
                admitted,
            )

    def log_request(
        self,
        rid: str,
        model: str,
        steering: Steering,
        prompt_n: int,
        out_n: int,
        start: float,
        status: str,
        texts: tuple[str, str] | None = None,
        admitted: list[Admission] | None = None,
    ) -> None:
        """The request's log line (its texts only with ``log_text``): ``admission`` is the
        time its steering took to build (all its jobs), ``steering_cache`` ``hit`` when every
        part came from the cache, ``miss`` when some were built, ``none`` when unsteered."""
        admitted = admitted or []
        caches = {a.cache for a in admitted}
        cache = "miss" if "miss" in caches else "hit" if "hit" in caches else "none"
        line = (
            f"{rid} model={model} steering=[{steering.describe()}] "
            f"admission={1e3 * sum(a.seconds for a in admitted):.3f}ms steering_cache={cache} "
            f"prompt_tokens={prompt_n} completion_tokens={out_n} "
            f"time={time.perf_counter() - start:.3f}s status={status}"
        )
        if self.config.log_text and texts is not None:
            line += f" prompt={texts[0]!r} answer={texts[1]!r}"
        log.info(line)


def _scoring(steering: Steering) -> Steering:
    """Scoring has no generated tokens: the prompt is the scored text, so the default scope
    ``generated`` would edit nothing; it is read as ``all`` there (``prompt`` and ``all`` are
    kept as asked)."""
    if steering.scope == "generated":
        return Steering(steering.values, steering.rule, "all", steering.seed)
    return steering
