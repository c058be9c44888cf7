"""Request bodies of the OpenAI API, checked field by field.

Every refusal is an :class:`ApiError` that names the field (``param``) and becomes an
OpenAI-style JSON error with a 4xx status; nothing a client sends can raise anything else.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from valuelocate.serve.steering import Steering, SteeringCatalog, SteeringError


class ApiError(Exception):
    """An error answered as ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = (
            status,
            message,
            param,
            code,
            kind,
        )

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }


def bad(message: str, param: str | None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


@dataclass
class Sampling:
    """The sampling fields shared by both endpoints."""

    max_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    stop: list[str]
    stream: bool
    ignore_eos: bool = False


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, str]]
    sampling: Sampling
    steering: Steering


@dataclass
class CompletionRequest:
    model: str
    prompts: list[str | list[int]]
    sampling: Sampling
    steering: Steering
    echo: bool = False
    logprobs: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_json(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, else a 400 naming the body."""
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad(f"The request body is not valid JSON: {exc}", None, "invalid_json") from None
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object", None, "invalid_json")
    return body


def _number(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise bad(f"{name} must be a number", name, "invalid_type")
    if not low <= value <= high:
        raise bad(f"{name} = {value} is out of range [{low:g}, {high:g}]", name)
    return float(value)


def _integer(body: dict[str, Any], name: str, default: int | None) -> int | None:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{name} must be an integer", name, "invalid_type")
    return value


def _sampling(body: dict[str, Any], default_max_tokens: int, max_tokens_limit: int) -> Sampling:
    max_tokens = _integer(body, "max_tokens", None)
    if max_tokens is None:
        max_tokens = _integer(body, "max_completion_tokens", default_max_tokens)
    assert max_tokens is not None
    if not 0 <= max_tokens <= max_tokens_limit:
        raise bad(
            f"max_tokens = {max_tokens} is out of range [0, {max_tokens_limit}]", "max_tokens"
        )
    stop = body.get("stop")
    if stop is None:
        stops: list[str] = []
    elif isinstance(stop, str):
        stops = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop) and len(stop) <= 4:
        stops = list(stop)
    else:
        raise bad("stop must be a string or a list of at most 4 strings", "stop", "invalid_type")
    if any(not s for s in stops):
        raise bad("stop strings must not be empty", "stop")
    n = _integer(body, "n", 1)
    if n != 1:
        raise bad("Only n = 1 is supported", "n")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad("stream must be true or false", "stream", "invalid_type")
    ignore_eos = body.get("ignore_eos", False)  # vLLM's field: equal work for benchmarks
    if not isinstance(ignore_eos, bool):
        raise bad("ignore_eos must be true or false", "ignore_eos", "invalid_type")
    return Sampling(
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0),
        seed=_integer(body, "seed", None),
        stop=stops,
        stream=stream,
        ignore_eos=ignore_eos,
    )


def _model_and_steering(body: dict[str, Any], catalog: SteeringCatalog) -> tuple[str, Steering]:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("model is required (GET /v1/models lists them)", "model", "missing_field")
    try:
        steering = catalog.steering(
            model,
            body.get("values"),
            body.get("rule"),
            body.get("scope"),
            body.get("steering_seed"),
        )
    except SteeringError as exc:
        status = 404 if exc.param == "model" and "does not exist" in str(exc) else 400
        code = "model_not_found" if status == 404 else "invalid_value"
        raise ApiError(status, str(exc), param=exc.param, code=code) from None
    return model, steering


def parse_chat(
    body: dict[str, Any], catalog: SteeringCatalog, *, default_max_tokens: int, limit: int
) -> ChatRequest:
    """Check a ``/v1/chat/completions`` body."""
    messages = body.get("messages")
    if messages is None:
        raise bad("messages is required", "messages", "missing_field")
    if not isinstance(messages, list) or not messages:
        raise bad("messages must be a non-empty list", "messages", "invalid_type")
    checked = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise bad(f"messages[{i}] must be an object", f"messages[{i}]", "invalid_type")
        role, content = message.get("role"), message.get("content")
        if role not in ("system", "user", "assistant", "developer"):
            raise bad(
                f"messages[{i}].role must be system, user or assistant",
                f"messages[{i}].role",
            )
        if isinstance(content, list):  # content parts: keep the text ones
            texts = [p.get("text") for p in content if isinstance(p, dict)]
            if not all(isinstance(t, str) for t in texts) or not texts:
                raise bad(
                    f"messages[{i}].content parts must be text",
                    f"messages[{i}].content",
                    "invalid_type",
                )
            content = "".join(texts)  # type: ignore[arg-type]
        if not isinstance(content, str):
            raise bad(
                f"messages[{i}].content must be a string", f"messages[{i}].content", "invalid_type"
            )
        checked.append({"role": "system" if role == "developer" else role, "content": content})
    if body.get("logprobs"):
        raise bad("logprobs is not supported on chat completions", "logprobs", "unsupported")
    model, steering = _model_and_steering(body, catalog)
    sampling = _sampling(body, default_max_tokens, limit)
    if sampling.max_tokens < 1:
        raise bad("max_tokens must be at least 1 for a chat completion", "max_tokens")
    return ChatRequest(model, checked, sampling, steering)


def parse_completion(
    body: dict[str, Any], catalog: SteeringCatalog, *, default_max_tokens: int, limit: int
) -> CompletionRequest:
    """Check a ``/v1/completions`` body: ``prompt`` is a string, a list of strings, a list of
    token ids, or a list of such lists (lm-evaluation-harness sends token ids)."""
    if "prompt" not in body:
        raise bad("prompt is required", "prompt", "missing_field")
    prompt = body["prompt"]
    if isinstance(prompt, str):
        prompts: list[str | list[int]] = [prompt]
    elif isinstance(prompt, list) and prompt and _is_ids(prompt):
        prompts = [list(prompt)]
    elif isinstance(prompt, list) and prompt and all(_is_ids(p) for p in prompt):
        prompts = [list(p) for p in prompt]
    elif isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        prompts = list(prompt)
    else:
        raise bad(
            "prompt must be a string, a list of strings, or token ids", "prompt", "invalid_type"
        )
    if any(isinstance(p, list) and not p for p in prompts) or any(p == "" for p in prompts):
        raise bad("prompt must not be empty", "prompt")
    model, steering = _model_and_steering(body, catalog)
    sampling = _sampling(body, default_max_tokens, limit)
    echo = body.get("echo", False)
    if not isinstance(echo, bool):
        raise bad("echo must be true or false", "echo", "invalid_type")
    logprobs = _integer(body, "logprobs", None)
    if logprobs is not None and not 0 <= logprobs <= 20:
        raise bad(f"logprobs = {logprobs} is out of range [0, 20]", "logprobs")
    if sampling.max_tokens == 0 and not echo:
        raise bad("max_tokens must be at least 1 unless echo is true", "max_tokens")
    if sampling.stream and echo and logprobs is not None:
        raise bad("echo with logprobs is not supported when streaming", "stream", "unsupported")
    return CompletionRequest(model, prompts, sampling, steering, echo, logprobs)


def _is_ids(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(i, int) and not isinstance(i, bool) for i in value
    )
