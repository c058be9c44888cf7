"""What a generation run is asked to do (:class:`GenerationConfig`), what it did
(:class:`GenerationReport`), and the error that stops it (:class:`GenerationError`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from valuelocate.data.schema import DIMENSIONS, POLES, SPLITS
from valuelocate.llm.base import FailureCounts

GENERATABLE_KINDS: tuple[str, ...] = ("descriptions", "prompts")


class GenerationError(RuntimeError):
    """The generator cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class GenerationConfig:
    """One generation run.

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

    kind: str
    dimension: str
    count: int
    out: Path
    poles: tuple[str, ...] = POLES
    split: str = "auto"
    test_fraction: float = 0.2
    per_call: int = 5
    temperature: float = 0.9
    max_tokens: int = 1024
    max_attempts: int | None = None
    seed: int = 0
    similarity: float = 0.5
    id_prefix: str = "gen"
    n_examples: int = 2
    n_avoid: int = 5

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
