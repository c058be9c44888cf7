"""The HTTP face of the server: a FastAPI app speaking the OpenAI API.

Routes: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions`` (both
with ``stream``). Bodies are parsed by :mod:`valuelocate.serve.schema`; the work is done by
the :class:`~valuelocate.serve.engine.Engine` thread, and results come back to the event loop
through per-request queues. One log line per request: id, model, steering, tokens, time (and
the texts only with ``log_text``); the API key is never logged.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from valuelocate.serve.decode import Scored, TokenEvent
from valuelocate.serve.engine import Engine, GenerateJob, QueueFull, ScoreJob
from valuelocate.serve.schema import (
    ApiError,
    CompletionRequest,
    Sampling,
    bad,
    parse_chat,
    parse_completion,
    parse_json,
)
from valuelocate.serve.steering import Steering

log = logging.getLogger("valuelocate.serve")


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


def create_app(engine: Engine, config: ServeConfig) -> FastAPI:
    """The FastAPI app serving ``engine``'s model and its steered aliases."""
    app = FastAPI(title="valuelocate serve", docs_url=None, redoc_url=None, openapi_url=None)
    lm, catalog = engine.lm, engine.catalog
    tokenizer = lm.tokenizer
    vocab = len(tokenizer)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = ApiError(exc.status_code, str(exc.detail), code="not_found")
        return JSONResponse(error.body(), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _server_error(_request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s: %s", type(exc).__name__, exc)
        error = ApiError(500, "Internal server error", code="server_error", kind="server_error")
        return JSONResponse(error.body(), status_code=500)

    @app.middleware("http")
    async def _auth(request: Request, call_next: Any) -> Response:
        if config.api_key is not None:
            given = request.headers.get("authorization", "")
            expected = f"Bearer {config.api_key}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                error = ApiError(
                    401,
                    "Missing or wrong API key (Authorization: Bearer ...)",
                    code="invalid_api_key",
                )
                return JSONResponse(error.body(), status_code=401)
        return await call_next(request)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        names = [catalog.base_name, *catalog.aliases()]
        data = [
            {"id": n, "object": "model", "created": config.created, "owned_by": "valuelocate"}
            for n in names
        ]
        return {"object": "list", "data": data}

    def encode_chat(messages: list[dict[str, str]]) -> list[int]:
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])
        # No template (base models): the turns' texts, as `valuelocate steer` feeds a prompt.
        text = "\n".join(m["content"] for m in messages)
        return list(tokenizer(text)["input_ids"])

    def encode_prompt(prompt: str | list[int]) -> list[int]:
        if isinstance(prompt, str):
            return list(tokenizer(prompt)["input_ids"])
        if any(not 0 <= i < vocab for i in prompt):
            raise bad(f"prompt holds a token id outside the vocabulary [0, {vocab})", "prompt")
        return prompt

    def check_length(ids: list[int], sampling: Sampling, param: str) -> None:
        if len(ids) + sampling.max_tokens > config.context_limit:
            raise ApiError(
                400,
                f"{param} has {len(ids)} tokens; with max_tokens = {sampling.max_tokens} that "
                f"exceeds the context limit of {config.context_limit} tokens",
                param=param,
                code="context_length_exceeded",
            )

    def submit(job: GenerateJob | ScoreJob) -> None:
        try:
            engine.submit(job)
        except QueueFull as exc:
            raise ApiError(
                429, f"{exc}; retry later", code="rate_limit_exceeded", kind="rate_limit_error"
            ) from None

    def generate_job(
        ids: list[int], steering: Steering, sampling: Sampling, channel: _Channel, **extra: Any
    ) -> GenerateJob:
        return GenerateJob(
            ids=ids,
            steering=steering,
            max_tokens=sampling.max_tokens,
            on_token=lambda e: channel.put("token", e),
            on_done=lambda r, exc: channel.put("done", r, exc),
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            seed=sampling.seed,
            stop=sampling.stop,
            **extra,
        )

    async def collect(channel: _Channel) -> _Outcome:
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

    def log_line(
        rid: str,
        model: str,
        steering: Steering,
        prompt_n: int,
        out_n: int,
        start: float,
        status: str,
        texts: tuple[str, str] | None = None,
    ) -> None:
        line = (
            f"{rid} model={model} steering=[{steering.describe()}] prompt_tokens={prompt_n} "
            f"completion_tokens={out_n} time={time.perf_counter() - start:.3f}s status={status}"
        )
        if config.log_text and texts is not None:
            line += f" prompt={texts[0]!r} answer={texts[1]!r}"
        log.info(line)

    def usage(prompt_n: int, out_n: int) -> dict[str, int]:
        return {
            "prompt_tokens": prompt_n,
            "completion_tokens": out_n,
            "total_tokens": prompt_n + out_n,
        }

    def steering_info(steering: Steering) -> dict[str, Any]:
        return {"values": dict(steering.values), "rule": steering.rule, "scope": steering.scope}

    def sse(data: dict[str, Any]) -> str:
        return f"data: {json.dumps(data)}\n\n"

    async def stream(
        rid: str,
        obj: str,
        model: str,
        steering: Steering,
        ids: list[int],
        job: GenerateJob,
        channel: _Channel,
        chat: bool,
    ) -> AsyncIterator[str]:
        start, count, status, text = time.perf_counter(), 0, "cancelled", ""

        def chunk(delta: str | None, finish: str | None) -> dict[str, Any]:
            if chat:
                body: dict[str, Any] = {} if delta is None else {"content": delta}
                if delta == "" and finish is None:
                    body = {"role": "assistant", "content": ""}
                choice: dict[str, Any] = {"index": 0, "delta": body, "finish_reason": finish}
            else:
                choice = {
                    "index": 0,
                    "text": delta or "",
                    "logprobs": None,
                    "finish_reason": finish,
                }
            return {
                "id": rid,
                "object": obj,
                "created": int(time.time()),
                "model": model,
                "choices": [choice],
            }

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
                final["usage"] = usage(len(ids), count)
                yield sse(final)
                yield "data: [DONE]\n\n"
                break
        finally:
            job.cancelled.set()  # a client that went away frees its slot at the next token
            log_line(
                rid, model, steering, len(ids), count, start, status, (tokenizer.decode(ids), text)
            )

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Any:
        start = time.perf_counter()
        req = parse_chat(
            parse_json(await request.body()),
            catalog,
            default_max_tokens=config.default_max_tokens,
            limit=config.max_tokens_limit,
        )
        ids = encode_chat(req.messages)
        check_length(ids, req.sampling, "messages")
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        channel = _Channel()
        job = generate_job(ids, req.steering, req.sampling, channel)
        submit(job)
        if req.sampling.stream:
            return StreamingResponse(
                stream(
                    rid, "chat.completion.chunk", req.model, req.steering, ids, job, channel, True
                ),
                media_type="text/event-stream",
            )
        try:
            outcome = await collect(channel)
        finally:
            job.cancelled.set()
        n = sum(t.token_id >= 0 for t in outcome.tokens)
        log_line(
            rid,
            req.model,
            req.steering,
            len(ids),
            n,
            start,
            outcome.finish,
            (tokenizer.decode(ids), outcome.text),
        )
        return {
            "id": rid,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": outcome.text},
                    "finish_reason": outcome.finish,
                    "logprobs": None,
                }
            ],
            "usage": usage(len(ids), n),
            "steering": steering_info(req.steering),
        }

    async def one_completion(req: CompletionRequest, index: int, ids: list[int]) -> dict[str, Any]:
        scored: Scored | None = None
        if req.echo and req.logprobs is not None:
            channel = _Channel()
            submit(
                ScoreJob(
                    ids,
                    _scoring(req.steering),
                    req.logprobs,
                    lambda s, exc: channel.put("scored", s, exc),
                )
            )
            _, scored, exc = await channel.queue.get()
            if exc is not None:
                raise exc
        outcome = _Outcome(finish="length")
        if req.sampling.max_tokens > 0:
            channel = _Channel()
            job = generate_job(ids, req.steering, req.sampling, channel, logprobs=req.logprobs)
            submit(job)
            try:
                outcome = await collect(channel)
            finally:
                job.cancelled.set()
        prefix = tokenizer.decode(ids) if req.echo else ""
        choice: dict[str, Any] = {
            "index": index,
            "text": prefix + outcome.text,
            "finish_reason": outcome.finish,
            "logprobs": None,
        }
        if req.logprobs is not None:
            choice["logprobs"] = _logprobs(tokenizer, scored, outcome.tokens, len(prefix))
        choice["_tokens"] = sum(t.token_id >= 0 for t in outcome.tokens)
        return choice

    @app.post("/v1/completions", response_model=None)
    async def completions(request: Request) -> Any:
        start = time.perf_counter()
        req = parse_completion(
            parse_json(await request.body()),
            catalog,
            default_max_tokens=config.default_max_tokens,
            limit=config.max_tokens_limit,
        )
        all_ids = [encode_prompt(p) for p in req.prompts]
        for ids in all_ids:
            check_length(ids, req.sampling, "prompt")
        rid = f"cmpl-{uuid.uuid4().hex[:24]}"
        if req.sampling.stream:
            if len(all_ids) != 1:
                raise bad("Streaming takes a single prompt", "prompt")
            channel = _Channel()
            job = generate_job(all_ids[0], req.steering, req.sampling, channel)
            submit(job)
            return StreamingResponse(
                stream(
                    rid, "text_completion", req.model, req.steering, all_ids[0], job, channel, False
                ),
                media_type="text/event-stream",
            )
        choices = await asyncio.gather(
            *(one_completion(req, i, ids) for i, ids in enumerate(all_ids))
        )
        prompt_n = sum(len(ids) for ids in all_ids)
        out_n = sum(c.pop("_tokens") for c in choices)
        log_line(
            rid,
            req.model,
            req.steering,
            prompt_n,
            out_n,
            start,
            ",".join(c["finish_reason"] for c in choices),
            (repr(req.prompts), repr([c["text"] for c in choices])),
        )
        return {
            "id": rid,
            "object": "text_completion",
            "created": int(time.time()),
            "model": req.model,
            "choices": choices,
            "usage": usage(prompt_n, out_n),
            "steering": steering_info(req.steering),
        }

    return app


def _scoring(steering: Steering) -> Steering:
    """Scoring has no generated tokens: the prompt is the scored text, so the default scope
    ``generated`` would edit nothing; it is read as ``all`` there (``prompt`` and ``all`` are
    kept as asked)."""
    if steering.scope == "generated":
        return Steering(steering.values, steering.rule, "all", steering.seed)
    return steering


def _logprobs(
    tokenizer: Any, scored: Scored | None, generated: list[TokenEvent], offset: int
) -> dict[str, Any]:
    """OpenAI's completion ``logprobs``: the echoed prompt's entries, then the generated ones."""
    tokens: list[str] = []
    values: list[float | None] = []
    tops: list[dict[str, float] | None] = []
    offsets: list[int] = []
    if scored is not None:
        tokens, values, tops = list(scored.tokens), list(scored.logprobs), list(scored.top)
        # Where each token starts in the echoed text (decoding joins tokens, so ask it).
        offsets = [len(tokenizer.decode(scored.token_ids[:i])) for i in range(len(tokens))]
    position = offset
    for event in generated:
        if event.token_id < 0:
            continue
        tokens.append(tokenizer.decode([event.token_id]))
        values.append(event.logprob)
        tops.append(event.top)
        offsets.append(position)
        position += len(event.text)
    return {
        "tokens": tokens,
        "token_logprobs": values,
        "top_logprobs": tops,
        "text_offset": offsets,
    }
