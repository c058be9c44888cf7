"""The bodies the server answers with, in OpenAI's shapes.

Small typed builders, one per shape: the model list, a chat completion, a text completion and
its choices (with OpenAI's ``logprobs``), a streamed chunk of either, ``usage`` and the
``steering`` that was applied. Keys keep OpenAI's order; ``created`` is the time the body is
built. :func:`sse` frames a body as a server-sent event.
"""

from __future__ import annotations

import json
import time
from typing import Any, TypedDict

from valuelocate.serve.row import TokenEvent
from valuelocate.serve.scoring import Scored
from valuelocate.serve.steering import Steering


class Usage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class SteeringInfo(TypedDict):
    values: dict[str, float]
    rule: str
    scope: str


class Logprobs(TypedDict):
    tokens: list[str]
    token_logprobs: list[float | None]
    top_logprobs: list[dict[str, float] | None]
    text_offset: list[int]


class CompletionChoice(TypedDict):
    index: int
    text: str
    finish_reason: str
    logprobs: Logprobs | None


def usage(prompt_n: int, out_n: int) -> Usage:
    """Token counts of a request."""
    return {
        "prompt_tokens": prompt_n,
        "completion_tokens": out_n,
        "total_tokens": prompt_n + out_n,
    }


def steering_info(steering: Steering) -> SteeringInfo:
    """The steering a request got (an extension of OpenAI's bodies)."""
    return {"values": dict(steering.values), "rule": steering.rule, "scope": steering.scope}


def model_list(names: list[str], created: int) -> dict[str, Any]:
    """``GET /v1/models``: the base model and its steered aliases."""
    data = [
        {"id": n, "object": "model", "created": created, "owned_by": "valuelocate"} for n in names
    ]
    return {"object": "list", "data": data}


def chat_completion(
    rid: str, model: str, text: str, finish: str, used: Usage, steering: Steering
) -> dict[str, Any]:
    """A whole ``chat.completion``: one assistant message."""
    return {
        "id": rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
                "logprobs": None,
            }
        ],
        "usage": used,
        "steering": steering_info(steering),
    }


def completion_choice(
    index: int, text: str, finish: str, logprobs: Logprobs | None = None
) -> CompletionChoice:
    """One choice of a ``text_completion`` (``logprobs`` only when asked for)."""
    return {"index": index, "text": text, "finish_reason": finish, "logprobs": logprobs}


def completion(
    rid: str, model: str, choices: list[CompletionChoice], used: Usage, steering: Steering
) -> dict[str, Any]:
    """A whole ``text_completion``: a choice per prompt."""
    return {
        "id": rid,
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": used,
        "steering": steering_info(steering),
    }


def stream_chunk(
    rid: str, obj: str, model: str, delta: str | None, finish: str | None, *, chat: bool
) -> dict[str, Any]:
    """One streamed chunk. Chat: ``delta`` ``""`` without ``finish`` opens the assistant's
    turn, ``None`` carries no content (the last chunk); completions: ``text`` is ``delta``."""
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


def sse(data: dict[str, Any]) -> str:
    """``data`` as one server-sent event."""
    return f"data: {json.dumps(data)}\n\n"


def logprobs(
    tokenizer: Any, scored: Scored | None, generated: list[TokenEvent], offset: int
) -> Logprobs:
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
