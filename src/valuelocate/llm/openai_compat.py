"""Any OpenAI-compatible chat-completions endpoint as a chat backend (:class:`OpenAIBackend`).

Built on the official ``openai`` package, which retries 408/409/429/5xx answers, timeouts and
broken connections ``retries`` times with exponential backoff (0.5 s doubling, at most 8 s,
with jitter), and waits what a ``Retry-After`` header asks (up to two minutes) instead. What
this module adds:

- a *total* timeout per HTTP attempt: the package's timeout bounds each read, so a server that
  trickles its answer byte by byte would never time out; the transport here cuts an attempt
  that has not finished within ``timeout`` seconds;
- counts of every failed attempt by kind (:class:`~valuelocate.llm.base.FailureCounts`),
  retried ones included, that callers copy into their results;
- the checks the package leaves to the caller: a 200 answer that is not JSON, has no usable
  choice, or names another model. The first two are retried like a network error (a proxy
  hiccup); a wrong model stops the run, since a retry would get the same model;
- one-line errors that never hold the API key: it is read from the environment variable that
  ``api_key_env`` names, sent in the ``Authorization`` header only, kept out of ``repr``, and
  masked in any text a server echoes back.

A call that cannot succeed (after its retries) raises :class:`~valuelocate.llm.base.LLMError`;
one whose answers stay malformed or empty returns ``[]``, which callers count as malformed.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import openai

from valuelocate.llm.base import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_BASE_URL,
    FailureCounts,
    LLMError,
    Message,
)


def _http_module() -> Any:
    """The HTTP library the installed openai package is built on (httpx, or httpx2 in recent
    releases): the transport below must be of the same library as the client."""
    for cls in openai.DefaultHttpxClient.__mro__[1:]:
        if cls.__module__.split(".")[0].startswith("httpx"):
            return importlib.import_module(cls.__module__.split(".")[0])
    raise ImportError("cannot tell which HTTP library the openai package uses")


_http = _http_module()

# Sent when no key is configured: the package needs one, and without it would read
# OPENAI_API_KEY by itself and send a real OpenAI key to whatever server base_url names.
_NO_KEY = "no-key"
# Backoff of the retries of malformed or empty answers, which the package does not retry.
_FIRST_DELAY_S = 0.5
_MAX_DELAY_S = 8.0


class _CountingTransport(_http.BaseTransport):  # type: ignore[name-defined,misc]
    """Sends requests through the standard transport, reads each answer whole within a total
    deadline, and counts every failed attempt by kind (the package's retries pass here too)."""

    def __init__(self, failures: FailureCounts, timeout: float) -> None:
        self.inner = _http.HTTPTransport()
        self.failures = failures
        self.timeout = timeout

    def handle_request(self, request: Any) -> Any:
        self.failures.requests += 1
        start = time.monotonic()
        try:
            response = self.inner.handle_request(request)
        except _http.TimeoutException:
            self.failures.add("timeout")
            raise
        except _http.TransportError:
            self.failures.add("connection")
            raise
        stream: Any = response.stream  # a sync stream: this transport serves a sync client
        try:
            chunks = []
            for chunk in stream:
                chunks.append(chunk)
                if time.monotonic() - start > self.timeout:
                    raise _http.ReadTimeout(f"no complete answer within {self.timeout:g} s")
        except _http.TimeoutException:
            self.failures.add("timeout")
            raise
        except _http.TransportError:
            self.failures.add("truncated")
            raise
        finally:
            stream.close()
        status = response.status_code
        if status == 429:
            self.failures.add("rate_limited")
        elif status >= 500:
            self.failures.add("server_error")
        elif status >= 400:
            self.failures.add("refused")
        return _http.Response(
            status,
            headers=response.headers,
            content=b"".join(chunks),
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self.inner.close()


@dataclass
class OpenAIBackend:
    """An OpenAI-compatible chat-completions endpoint.

    Attributes:
        model: the model name the endpoint knows.
        base_url: the API root; requests go to ``{base_url}/chat/completions``.
        api_key_env: the environment variable holding the key (read once, here); ``None`` or
            an unset variable sends no real key (local servers often need none).
        timeout: seconds one HTTP attempt may take, answer included.
        retries: further tries of a failed attempt (the package's, plus ours for malformed
            or empty answers). A call takes at most ``(retries + 1) * timeout`` seconds plus
            the waits between tries.
        strict_model: refuse answers that name another model than ``model`` (a dated
            snapshot such as ``gpt-4o-mini-2024-07-18`` for ``gpt-4o-mini`` is the same).
        failures: what went wrong so far, by kind.
    """

    model: str
    base_url: str = DEFAULT_BASE_URL
    api_key_env: str | None = None
    timeout: float = 60.0
    retries: int = 3
    strict_model: bool = True
    failures: FailureCounts = field(default_factory=FailureCounts)
    _key: str | None = field(default=None, init=False, repr=False)
    _client: Any = field(default=None, init=False, repr=False)

    @classmethod
    def from_env(
        cls,
        model: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        **kwargs: Any,
    ) -> OpenAIBackend:
        """A backend whose key comes from ``api_key_env``; an unset variable is an error for
        OpenAI's own URL, and means "no key" for any other.

        Args:
            model: the model name.
            base_url: the API root.
            api_key_env: the variable's name.
            **kwargs: ``timeout``, ``retries``, ``strict_model``.

        Returns:
            The backend.

        Raises:
            LLMError: no key for OpenAI's URL, or a URL without a scheme.
        """
        if not os.environ.get(api_key_env) and base_url.rstrip("/") == DEFAULT_BASE_URL:
            raise LLMError(
                f"The environment variable {api_key_env} holds no API key for {base_url}: set "
                "it, or name another variable with --api-key-env.",
                "refused",
            )
        return cls(model=model, base_url=base_url, api_key_env=api_key_env, **kwargs)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise LLMError(
                "--base-url must start with http:// or https://, e.g. "
                f"http://localhost:8000/v1: got {self.base_url!r}",
                "refused",
            )
        if self.timeout <= 0 or self.retries < 0:
            raise ValueError("timeout must be > 0 and retries >= 0")
        self._key = os.environ.get(self.api_key_env or "") or None
        self._client = openai.OpenAI(
            api_key=self._key or _NO_KEY,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=self.retries,
            http_client=openai.DefaultHttpxClient(
                transport=_CountingTransport(self.failures, self.timeout)
            ),
        )

    @property
    def url(self) -> str:
        """The chat-completions URL."""
        return f"{self.base_url}/chat/completions"

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def complete(
        self,
        messages: list[Message],
        *,
        temperature: float,
        max_tokens: int,
        n: int = 1,
        seed: int | None = None,
    ) -> list[str]:
        """Request ``n`` completions (see :class:`~valuelocate.llm.base.Backend`).

        Returns:
            The completions' texts; ``[]`` when every try answered malformed or empty.

        Raises:
            LLMError: the endpoint refused the request, named another model, or failed
                (timeout, 429, 5xx, connection) on every try.
        """
        self.failures.calls += 1
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        if n != 1:  # some compatible servers reject the field; 1 is everyone's default
            body["n"] = n
        if seed is not None:
            body["seed"] = seed
        for attempt in range(self.retries + 1):
            try:
                return self._texts(self._post(body))
            except LLMError as exc:
                if exc.kind in ("malformed", "empty", "wrong_model"):
                    self.failures.add(exc.kind)
                if exc.kind in ("malformed", "empty"):
                    if attempt < self.retries:
                        time.sleep(min(_FIRST_DELAY_S * 2**attempt, _MAX_DELAY_S))
                        continue
                    self.failures.failed_calls += 1
                    return []
                self.failures.failed_calls += 1
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _post(self, body: dict[str, Any]) -> Any:
        """The decoded JSON answer to ``body``; the package retries what it can."""
        try:
            raw = self._client.chat.completions.with_raw_response.create(**body)
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from None
        except openai.APITimeoutError:
            raise LLMError(
                f"{self.base_url} gave no complete answer within --timeout {self.timeout:g} s, "
                f"{self.retries + 1} time(s)",
                "timeout",
            ) from None
        except openai.APIConnectionError as exc:
            cause = self._redact(f"{type(exc.__cause__).__name__}: {exc.__cause__}")
            raise LLMError(
                f"{self.base_url} could not be reached or broke the connection "
                f"{self.retries + 1} time(s); last: {_one_line(cause)}",
                "connection",
            ) from None
        try:
            return json.loads(raw.http_response.content)
        except ValueError:
            raise LLMError(f"{self.url} answered with text that is not JSON", "malformed") from None

    def _texts(self, payload: Any) -> list[str]:
        """The completions in a decoded answer, after checking its shape and model."""
        if not isinstance(payload, dict) or not isinstance(payload.get("choices", []), list):
            raise LLMError(f"{self.url} answered JSON that is not a chat completion", "malformed")
        named = payload.get("model")
        if self.strict_model and isinstance(named, str) and not _same_model(self.model, named):
            raise LLMError(
                f"{self.url} answered as model {named!r}, not {self.model!r}: check --model "
                "(the endpoint may serve another model under this name)",
                "wrong_model",
            )
        texts = []
        for choice in payload.get("choices") or []:
            message = choice.get("message") if isinstance(choice, dict) else None
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                texts.append(content)
        if not texts:
            raise LLMError(f"{self.url} answered without a usable choice", "empty")
        return texts

    def _status_error(self, exc: openai.APIStatusError) -> LLMError:
        status = exc.status_code
        said = self._redact(_one_line(exc.response.text))[:300]
        detail = f" The server said: {said}" if said else ""
        if status in (401, 403):
            source = f" (from ${self.api_key_env})" if self.api_key_env else ""
            return LLMError(
                f"{self.base_url} refused the request (HTTP {status}): the API key{source} is "
                f"missing or wrong.{detail}",
                "refused",
            )
        if status == 404:
            return LLMError(
                f"{self.url} answered HTTP 404: check --base-url (the API root, e.g. "
                f"https://api.openai.com/v1) and --model {self.model!r}.{detail}",
                "refused",
            )
        kind = "rate_limited" if status == 429 else "server_error" if status >= 500 else "refused"
        tries = f" (tried up to {self.retries + 1} times)" if kind != "refused" else ""
        return LLMError(f"{self.base_url} answered HTTP {status}{tries}.{detail}", kind)

    def _redact(self, text: str) -> str:
        """``text`` with the key masked; done before any cut, so no part of it survives."""
        return text.replace(self._key, "***") if self._key else text


def _same_model(asked: str, named: str) -> bool:
    """Whether an answer's ``model`` is the one asked for, or a dated snapshot of it."""
    return named == asked or named.startswith(f"{asked}-")


def _one_line(text: str) -> str:
    return " ".join(text.split())
