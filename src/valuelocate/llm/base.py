"""What every chat backend shares: the message type, the :class:`Backend` protocol, the error
it raises, and the :class:`FailureCounts` it keeps.

The dataset generator and the judges only ever see this interface, so a local model and a
remote endpoint are interchangeable, and a caller can copy a backend's failure counts into its
own results without knowing which backend it ran.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Protocol

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"

Message = dict[str, str]
"""One chat message: ``{"role": "system" | "user" | "assistant", "content": str}``."""

FAILURE_KINDS: tuple[str, ...] = (
    "timeout",
    "rate_limited",
    "server_error",
    "connection",
    "truncated",
    "malformed",
    "empty",
    "wrong_model",
    "refused",
)
"""What can go wrong with one request, from the client's side:

- ``timeout``: no complete answer within the total timeout;
- ``rate_limited``: HTTP 429; ``server_error``: HTTP 5xx;
- ``connection``: refused, reset or closed before an answer;
- ``truncated``: the body ended before its announced length;
- ``malformed``: a 200 answer that is not the JSON of a chat completion;
- ``empty``: a chat completion without a usable choice;
- ``wrong_model``: the answer names another model than the one asked for;
- ``refused``: any other HTTP error (401, 403, 404, 400 ...), which no retry can fix.
"""

# Kinds that a later try may not repeat; the others are errors of the request or the setup.
TRANSIENT_KINDS: frozenset[str] = frozenset(
    {"timeout", "rate_limited", "server_error", "connection", "truncated", "malformed", "empty"}
)


class LLMError(RuntimeError):
    """A backend could not answer; the message is one line that says why and what to do, and
    never holds an API key.

    Attributes:
        kind: one of :data:`FAILURE_KINDS`.
    """

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def transient(self) -> bool:
        """Whether trying again later could succeed (the endpoint was busy, slow or down)."""
        return self.kind in TRANSIENT_KINDS


@dataclass
class FailureCounts:
    """How a backend's requests went, so that callers can write it into their results.

    Every HTTP attempt that failed is counted under its kind, including those that a retry
    then recovered from; ``failed_calls`` counts the calls that gave up (raised, or returned
    no completion).

    Attributes:
        calls: :meth:`Backend.complete` calls.
        requests: HTTP requests sent, retries included.
        failed_calls: calls that ended without a completion.
        timeout ... refused: failed attempts by kind (see :data:`FAILURE_KINDS`).
    """

    calls: int = 0
    requests: int = 0
    failed_calls: int = 0
    timeout: int = 0
    rate_limited: int = 0
    server_error: int = 0
    connection: int = 0
    truncated: int = 0
    malformed: int = 0
    empty: int = 0
    wrong_model: int = 0
    refused: int = 0

    def add(self, kind: str, count: int = 1) -> None:
        """Count ``count`` failed attempts of ``kind``."""
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; one of {', '.join(FAILURE_KINDS)}")
        setattr(self, kind, getattr(self, kind) + count)

    @property
    def failures(self) -> int:
        """Failed attempts of every kind."""
        return sum(getattr(self, kind) for kind in FAILURE_KINDS)

    def as_dict(self) -> dict[str, int]:
        """The counts, JSON-ready."""
        return asdict(self)

    def merge(self, other: FailureCounts) -> None:
        """Add ``other``'s counts to these."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def minus(self, earlier: FailureCounts) -> FailureCounts:
        """The counts added since ``earlier`` (a copy taken before)."""
        return FailureCounts(
            **{f.name: getattr(self, f.name) - getattr(earlier, f.name) for f in fields(self)}
        )

    def summary(self) -> str:
        """One line, e.g. ``12 requests for 10 calls; 2 retried or failed: timeout 1, ...``."""
        kinds = ", ".join(f"{k} {getattr(self, k)}" for k in FAILURE_KINDS if getattr(self, k))
        line = f"{self.requests} request(s) for {self.calls} call(s)"
        if kinds:
            line += f"; failed attempts: {kinds}"
        if self.failed_calls:
            line += f"; {self.failed_calls} call(s) gave up"
        return line


class Backend(Protocol):
    """Anything that turns chat messages into ``n`` sampled completions."""

    def complete(
        self,
        messages: list[Message],
        *,
        temperature: float,
        max_tokens: int,
        n: int = 1,
        seed: int | None = None,
    ) -> list[str]:
        """Sample ``n`` completions of ``messages``.

        Args:
            messages: chat messages, ``[{"role": "system"|"user", "content": str}, ...]``.
            temperature: sampling temperature; 0 means greedy.
            max_tokens: the most new tokens per completion.
            n: how many completions.
            seed: makes the sampling reproducible where the backend can.

        Returns:
            The completions' texts (fewer than ``n`` if the backend returned fewer).

        Raises:
            LLMError: the backend cannot answer (remote backends, after their retries).
        """
        ...
