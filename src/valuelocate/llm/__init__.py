"""Chat backends: a local transformers model or an OpenAI-compatible endpoint, behind one
:class:`Backend` protocol. Used by the dataset generator (:mod:`valuelocate.data.generate`)
and the chat judges (:mod:`valuelocate.evaluation.judges`).

Usage::

    from valuelocate.llm import OpenAIBackend

    backend = OpenAIBackend.from_env("gpt-4o-mini", api_key_env="OPENAI_API_KEY", timeout=30)
    texts = backend.complete([{"role": "user", "content": "Hi"}], temperature=0, max_tokens=8)
    backend.failures.as_dict()   # timeouts, 429s, 5xx ... counted, retried ones included
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from valuelocate.llm.base import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_BASE_URL,
    FAILURE_KINDS,
    TRANSIENT_KINDS,
    Backend,
    FailureCounts,
    LLMError,
    Message,
)

if TYPE_CHECKING:
    from valuelocate.llm.hf import HFBackend
    from valuelocate.llm.openai_compat import OpenAIBackend


def __getattr__(name: str) -> Any:
    # The backends load on first use: the openai package takes seconds to import, and most
    # commands (and the offline judge) never need it.
    if name == "OpenAIBackend":
        from valuelocate.llm.openai_compat import OpenAIBackend

        return OpenAIBackend
    if name == "HFBackend":
        from valuelocate.llm.hf import HFBackend

        return HFBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_API_KEY_ENV",
    "DEFAULT_BASE_URL",
    "FAILURE_KINDS",
    "TRANSIENT_KINDS",
    "Backend",
    "FailureCounts",
    "HFBackend",
    "LLMError",
    "Message",
    "OpenAIBackend",
]
