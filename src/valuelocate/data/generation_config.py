"""What a generation run is asked to do (:class:`DataGenerationConfig`), with which model
(:class:`GeneratorBackendOptions`), what it did (:class:`GenerationReport`), and the error that
stops it (:class:`GenerationError`).

The two options classes are declared with :func:`~valuelocate.optionspec.option`: the command
line ``valuelocate data generate`` builds its flags from them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from valuelocate.data.schema import DIMENSIONS, POLES, SPLITS
from valuelocate.llm.base import DEFAULT_API_KEY_ENV, DEFAULT_BASE_URL, Backend, FailureCounts
from valuelocate.optionspec import REQUIRED, option

GENERATABLE_KINDS: tuple[str, ...] = ("descriptions", "prompts")

# What ``--dtype`` accepts for a local (hf) model.
GENERATOR_DTYPES: tuple[str, ...] = ("float32", "bfloat16", "float16", "auto")


def parse_poles(value: str | Iterable[str]) -> tuple[str, ...]:
    """``"both"`` -> every pole; one pole's name -> that pole alone; a sequence is kept."""
    if not isinstance(value, str):
        return tuple(value)
    return POLES if value == "both" else (value,)


class GenerationError(RuntimeError):
    """The generator cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class DataGenerationConfig:
    """One generation run of the dataset generator (``valuelocate data generate``; not to be
    confused with :class:`valuelocate.generation.GenerationConfig`, how answers are decoded).

    Attributes:
        kind: ``descriptions`` or ``prompts``.
        dimension: one of :data:`~valuelocate.data.schema.DIMENSIONS`.
        count: the number of records of this dimension (and poles) the file should hold,
            counting those already in it.
        out: the JSON Lines file to append to.
        poles: the poles to write (descriptions only); balanced when there are two.
        split: ``search``, ``test``, or ``auto`` (prompts only): ``auto`` puts a stable
            hash-chosen ``test_fraction`` of the new prompts in ``test``.
        test_fraction: the share of ``test`` prompts under ``split="auto"``.
        per_call: how many items one model call is asked for.
        temperature: sampling temperature.
        max_tokens: the most new tokens per call.
        max_attempts: the most model calls; ``None`` means ``3 * needed_calls + 5``. A model
            that emits only junk stops here instead of running forever.
        seed: seeds the targets' order, the examples shown and the model's sampling.
        similarity: word 3-gram Jaccard at or above which an item is a duplicate; 0.5, the
            threshold `valuelocate data stats` reports near-duplicates from.
        id_prefix: ids are ``{id_prefix}-{dimension}-{number:05d}``.
        n_examples: items of the same dimension and pole (shipped or in the file) shown to
            the model as style examples per call.
        n_avoid: the most recent such items the model is told not to repeat.
    """

    kind: str = option(
        REQUIRED,
        "What to write: 'descriptions' (first-person value statements of one pole) or "
        "'prompts' (neutral situations ending in an open question).",
        choices=GENERATABLE_KINDS,
    )
    dimension: str = option(
        REQUIRED, "The higher-order value dimension the items are about.", choices=DIMENSIONS
    )
    count: int = option(
        REQUIRED,
        "How many records of this dimension (and poles) FILE should hold when done; records "
        "already in FILE count toward it, so rerunning the same command resumes.",
        min=1,
    )
    out: Path = option(
        REQUIRED,
        "JSON Lines file to append to (created if missing). Each record is written and "
        "fsync'd on its own line; an interrupted run leaves a valid file.",
        path="file",
    )
    poles: tuple[str, ...] = option(
        POLES,
        "Descriptions only: the pole to write; 'both' keeps the two poles balanced.",
        flag="--pole",
        choices=(*POLES, "both"),
        parse=parse_poles,
        text="both",
    )
    split: str = option(
        "auto",
        "Prompts only: the split of the new prompts; 'auto' puts a stable, id-hashed "
        "--test-fraction of them in 'test' and the rest in 'search'.",
        choices=("auto", *SPLITS),
    )
    test_fraction: float = option(
        0.2, "Share of 'test' prompts under --split auto.", min=0.0, max=1.0
    )
    per_call: int = option(5, "Items asked for in one model call (as one JSON list).", min=1)
    temperature: float = option(0.9, "Sampling temperature; 0 decodes greedily.", min=0.0)
    max_tokens: int = option(1024, "Most new tokens the model may write per call.", min=1)
    max_attempts: int | None = option(
        None,
        "Most model calls before giving up (exit status 1). Default: 3 x the calls needed "
        "+ 5, so that a model that writes only junk stops.",
        min=1,
    )
    seed: int = option(
        0,
        "Seeds the order of targets, the examples shown and the sampling (hf; sent as "
        "'seed' to openai endpoints, which may or may not honour it).",
    )
    similarity: float = option(
        0.5,
        "Word 3-gram Jaccard similarity at or above which a new item counts as a duplicate "
        "of a shipped item, an item in FILE, or another new item (0.5: the threshold of "
        "`valuelocate data stats`).",
        min=0.01,
        max=1.0,
    )
    id_prefix: str = option(
        "gen", "New ids are PREFIX-DIMENSION-NNNNN, numbered after the highest already in FILE."
    )
    n_examples: int = option(2, "Style examples shown per call.", cli=False)
    n_avoid: int = option(5, "Recent items the model is told not to repeat.", cli=False)

    def check(self) -> None:
        """Raise :class:`ValueError` naming the first bad field."""
        if self.kind not in GENERATABLE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(GENERATABLE_KINDS)}: {self.kind!r}")
        if self.dimension not in DIMENSIONS:
            raise ValueError(
                f"unknown dimension {self.dimension!r}; expected one of: {', '.join(DIMENSIONS)}"
            )
        if not self.poles or any(p not in POLES for p in self.poles):
            raise ValueError(f"poles must be among {', '.join(POLES)}: {self.poles!r}")
        if self.split not in (*SPLITS, "auto"):
            raise ValueError(f"split must be auto, {', '.join(SPLITS)}: {self.split!r}")
        for name in ("count", "per_call", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0.0 < self.similarity <= 1.0:
            raise ValueError("similarity must be in (0, 1]")


@dataclass(frozen=True)
class GeneratorBackendOptions:
    """The model that writes the items: a local transformers model (``hf``) or an
    OpenAI-compatible endpoint (``openai``); :meth:`load` makes the :class:`Backend`."""

    backend: str = option(
        "hf",
        "'hf': a local transformers model. 'openai': any OpenAI-compatible "
        "chat-completions endpoint (see --base-url).",
        choices=("hf", "openai"),
    )
    model: str = option(
        "default",
        "hf: 'default' (embedded SmolLM2-135M-Instruct), a local folder or a hub id. "
        "openai: the model name the endpoint knows (e.g. gpt-4o).",
    )
    base_url: str = option(
        DEFAULT_BASE_URL,
        "openai: the API root; requests go to BASE_URL/chat/completions (e.g. "
        "http://localhost:8000/v1 for a local vLLM or llama.cpp server).",
    )
    api_key_env: str = option(
        DEFAULT_API_KEY_ENV,
        "openai: the environment variable holding the API key (the key itself is never "
        "printed or written). May be unset for endpoints other than OpenAI's.",
    )
    timeout: float = option(
        120.0, "openai: seconds one request may take, the whole answer included.", min=0.1
    )
    retries: int = option(
        3,
        "openai: further tries after a timeout, HTTP 429/5xx, a broken connection or a "
        "malformed answer, with doubling backoff (or what Retry-After asks).",
        min=0,
    )
    device: str | None = option(None, "hf: where to run the model (cpu, cuda, cuda:1).")
    dtype: str = option("float32", "hf: the weights' dtype.", choices=GENERATOR_DTYPES)

    def load(self) -> Backend:
        """The backend: the local model loaded, or a client of the endpoint."""
        if self.backend == "hf":
            from valuelocate.llm.hf import HFBackend

            return HFBackend.load(self.model, dtype=self.dtype, device=self.device)
        from valuelocate.llm.openai_compat import OpenAIBackend

        return OpenAIBackend.from_env(
            self.model,
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            timeout=self.timeout,
            retries=self.retries,
        )


@dataclass
class GenerationReport:
    """The outcome of a run; also passed to the progress callback after every call.

    Attributes:
        target: the number of records the file should hold.
        existing: matching records already in the file when the run began.
        written: records this run appended.
        rejected_malformed: answers with no JSON, and items that failed validation.
        rejected_duplicate: items too similar to the shipped data, the file or each other.
        attempts: model calls made.
        max_attempts: the bound on model calls.
        dropped_partial: whether an unterminated last line was cut from the file on resume.
        reasons: why items were rejected as malformed, with counts (``"no JSON"``, ...).
        failures: the backend's failed requests by kind during this run, retried ones
            included (all zero for a local model).
    """

    target: int
    existing: int = 0
    written: int = 0
    rejected_malformed: int = 0
    rejected_duplicate: int = 0
    attempts: int = 0
    max_attempts: int = 0
    dropped_partial: bool = False
    reasons: Counter[str] = field(default_factory=Counter)
    failures: FailureCounts = field(default_factory=FailureCounts)

    def reject(self, reason: str) -> None:
        """Count one malformed answer or item, and why."""
        self.rejected_malformed += 1
        self.reasons[reason] += 1

    @property
    def total(self) -> int:
        """Matching records in the file now."""
        return self.existing + self.written

    @property
    def complete(self) -> bool:
        """Whether the file holds the target number of records."""
        return self.total >= self.target

    def summary(self) -> str:
        """One line: written, rejected-malformed, rejected-duplicate, calls, failed requests."""
        line = (
            f"{self.total}/{self.target} in file ({self.written} written this run, "
            f"{self.existing} before); rejected: {self.rejected_malformed} malformed, "
            f"{self.rejected_duplicate} duplicate; {self.attempts} model call(s)"
        )
        if self.failures.failures or self.failures.failed_calls:
            line += f"; endpoint: {self.failures.summary()}"
        return line
