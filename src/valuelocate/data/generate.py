"""Writing new dataset items with an LLM: value descriptions and situational prompts.

The generator asks a model for a small JSON list of items per call, parses the answer
leniently, fills the fields it owns (id, dimension, pole, values, split ...), validates every
item with :func:`~valuelocate.data.schema.parse_record`, drops near-duplicates, and appends the
survivors to a JSON Lines file one fsync'd line at a time, so that a killed run loses at most
the line it was writing and a rerun of the same command resumes where it stopped.

Usage:

1. Pick a backend from :mod:`valuelocate.llm`: ``HFBackend`` (a local transformers model) or
   ``OpenAIBackend`` (any OpenAI-compatible chat-completions endpoint), or describe it with
   :class:`GeneratorBackendOptions` and call its ``load()``.
2. Describe the run with a :class:`DataGenerationConfig`.
3. Call :func:`generate`; it returns a :class:`GenerationReport` with the counts written,
   rejected as malformed and rejected as duplicates, the backend's failed requests by kind,
   and whether the target was reached.

The jobs live in their own modules: the request (:mod:`.messages`), reading answers and quality
checks (:mod:`.answers`), near-duplicates (:mod:`.dedup`), the output file and resume
(:mod:`.resume`), the run's options and report (:mod:`.generation_config`); this module holds
the loop. Their public names are importable from here too.

Example:
    >>> backend = HFBackend.load("default")
    >>> config = DataGenerationConfig("descriptions", "conservation", 10, Path("d.jsonl"))
    >>> report = generate(config, backend)
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from valuelocate.data.answers import (
    MAX_CHARS,
    MAX_COPIED,
    MIN_WORDS,
    item_text,
    parse_answer,
    text_problem,
)
from valuelocate.data.dedup import Deduplicator, normalize_text, shipped_records
from valuelocate.data.generation_config import (
    GENERATABLE_KINDS,
    DataGenerationConfig,
    GenerationError,
    GenerationReport,
    GeneratorBackendOptions,
)
from valuelocate.data.messages import Target, build_messages
from valuelocate.data.resume import ExistingFile, append_line, read_existing
from valuelocate.data.schema import (
    BASIC_VALUES,
    DIMENSION_NAMES,
    DOMAINS,
    VALUE_DEFINITIONS,
    Kind,
    Record,
    parse_record,
    record_to_dict,
)
from valuelocate.data.stats import jaccard, shingles
from valuelocate.llm.base import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_BASE_URL,
    Backend,
    FailureCounts,
    LLMError,
    Message,
)

__all__ = [
    "DEFAULT_API_KEY_ENV",
    "DEFAULT_BASE_URL",
    "DIMENSION_NAMES",
    "GENERATABLE_KINDS",
    "MAX_CHARS",
    "MAX_COPIED",
    "MIN_WORDS",
    "VALUE_DEFINITIONS",
    "Backend",
    "Deduplicator",
    "ExistingFile",
    "DataGenerationConfig",
    "GenerationError",
    "GenerationReport",
    "GeneratorBackendOptions",
    "Message",
    "Target",
    "append_line",
    "build_messages",
    "generate",
    "item_text",
    "jaccard",
    "normalize_text",
    "parse_answer",
    "read_existing",
    "shingles",
    "shipped_records",
    "text_problem",
]


def __getattr__(name: str) -> Any:
    # The backends moved to valuelocate.llm; still importable from here, loaded on first use.
    if name in ("HFBackend", "OpenAIBackend"):
        import valuelocate.llm

        return getattr(valuelocate.llm, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _matches(record: Record, config: DataGenerationConfig) -> bool:
    if getattr(record, "dimension", None) != config.dimension:
        return False
    return config.kind != "descriptions" or getattr(record, "pole", None) in config.poles


def _next_number(records: Iterable[Record], prefix: str) -> int:
    pattern = re.compile(rf"^{re.escape(prefix)}-.*-(\d+)$")
    numbers = [int(m.group(1)) for r in records if (m := pattern.match(r.id))]
    return max(numbers, default=0) + 1


def _choose_target(
    config: DataGenerationConfig, counts: Counter[tuple[str, str | None]], rng: random.Random
) -> Target:
    """The least-represented (value, pole) pair so far, ties broken by ``rng``; a random
    domain for prompts. Keeps a resumed run balanced too."""
    poles: tuple[str | None, ...] = config.poles if config.kind == "descriptions" else (None,)
    pairs = [(v, p) for p in poles for v in BASIC_VALUES[config.dimension]]
    fewest = min(counts[pair] for pair in pairs)
    value, pole = rng.choice([pair for pair in pairs if counts[pair] == fewest])
    domain = rng.choice(DOMAINS) if config.kind == "prompts" else None
    return Target(config.kind, config.dimension, value, pole, domain)


def _split_for(config: DataGenerationConfig, record_id: str) -> str:
    if config.split != "auto":
        return config.split
    digest = hashlib.sha256(f"{config.seed}:{record_id}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < config.test_fraction else "search"


def _make_record(
    config: DataGenerationConfig, target: Target, text: str, number: int
) -> tuple[Record | None, str]:
    rid = f"{config.id_prefix}-{config.dimension}-{number:05d}"
    obj: dict[str, Any]
    if config.kind == "descriptions":
        obj = {
            "id": rid,
            "dimension": config.dimension,
            "pole": target.pole,
            "values": [target.value],
            "text": text,
        }
    else:
        obj = {
            "id": rid,
            "dimension": config.dimension,
            "value": target.value,
            "domain": target.domain,
            "split": _split_for(config, rid),
            "situation_id": rid,
            "text": text,
        }
    record, errors = parse_record(config.kind, obj)  # type: ignore[arg-type]
    return record, "; ".join(f"{f}: {m}" for f, m in errors)


def generate(
    config: DataGenerationConfig,
    backend: Backend,
    *,
    reference: Iterable[str] | None = None,
    progress: Callable[[GenerationReport], None] | None = None,
) -> GenerationReport:
    """Write items with ``backend`` until ``config.out`` holds ``config.count`` matching
    records or ``config.max_attempts`` calls are spent.

    Args:
        config: the run.
        backend: the model.
        reference: texts new items must not duplicate; the shipped dataset's when ``None``.
        progress: called with the report after the file is read and after every call.

    Returns:
        The report; ``report.complete`` is false when the attempts ran out first.

    Raises:
        GenerationError: the output file holds invalid lines, or the backend failed for good.

    Example:
        >>> config = DataGenerationConfig("prompts", "conservation", 5, Path("p.jsonl"))
        >>> report = generate(config, b)
        >>> report.complete
        True
    """
    config.check()
    kind: Kind = config.kind  # type: ignore[assignment]
    config.out.parent.mkdir(parents=True, exist_ok=True)
    existing = read_existing(config.out, kind)
    matching = [r for r in existing.records if _matches(r, config)]
    report = GenerationReport(
        target=config.count, existing=len(matching), dropped_partial=existing.dropped_partial
    )
    needed_calls = -(-max(0, config.count - len(matching)) // config.per_call)
    report.max_attempts = config.max_attempts or 3 * needed_calls + 5

    shipped = shipped_records(kind) if reference is None else []
    seen = Deduplicator(threshold=config.similarity)
    for text in (r.text for r in shipped) if reference is None else reference:
        seen.add(text)
    for old in existing.records:
        seen.add(old.text)
    # Style examples and texts to steer away from: same dimension (and pole), shipped or not.
    pool = [r for r in (*shipped, *matching) if _matches(r, config)]
    counts: Counter[tuple[str, str | None]] = Counter(_record_key(r) for r in matching)
    rng = random.Random(config.seed)
    number = _next_number(existing.records, config.id_prefix)
    before = _failures_of(backend)
    if progress:
        progress(report)

    with config.out.open("a", encoding="utf-8") as handle:
        while not report.complete and report.attempts < report.max_attempts:
            target = _choose_target(config, counts, rng)
            same = [r.text for r in pool if _record_key(r)[1] == target.pole]
            messages = build_messages(
                target,
                per_call=min(config.per_call, config.count - report.total),
                examples=rng.sample(same, min(config.n_examples, len(same))),
                avoid=same[-config.n_avoid :] if config.n_avoid else (),
            )
            asked = shingles(messages[-1]["content"])
            seed = _call_seed(config.seed, report.total, report.attempts)
            report.attempts += 1
            try:
                answers = backend.complete(
                    messages,
                    temperature=config.temperature,
                    max_tokens=config.max_tokens,
                    seed=seed,
                )
            except LLMError as exc:  # after the backend's own retries: stop, the file is valid
                raise GenerationError(f"{exc} (rerun the same command to resume)") from None
            finally:
                report.failures = _failures_since(backend, before)
            for answer in answers or [""]:
                items = parse_answer(answer)
                if not items:
                    report.reject("no JSON list of items")
                    continue
                for item in items:
                    if report.complete:
                        break
                    record = _accept(item, config, target, number, seen, report, asked)
                    if record is None:
                        continue
                    append_line(handle, record_to_dict(record))
                    seen.add(record.text)
                    counts[_record_key(record)] += 1
                    pool.append(record)
                    number += 1
                    report.written += 1
            if progress:
                progress(report)
    return report


def _accept(
    item: Any,
    config: DataGenerationConfig,
    target: Target,
    number: int,
    seen: Deduplicator,
    report: GenerationReport,
    asked: frozenset[str],
) -> Record | None:
    """The record that ``item`` makes, or ``None`` after counting why it is rejected.

    Args:
        item: one decoded element of a model's answer.
        config: the run.
        target: what the call asked for (fills pole, value, domain).
        number: the id number the record would take.
        seen: the texts it must not duplicate.
        report: where rejections are counted.
        asked: the word 3-grams of the request, which an item must not mostly copy.

    Returns:
        A valid record, not yet written or remembered.
    """
    text = item_text(item)
    if text is None:
        report.reject("no text")
        return None
    problem = text_problem(config.kind, text, config.dimension)
    if problem is not None:
        report.reject(problem)
        return None
    if seen.is_duplicate(text):  # first: an item that copies a shown example is a duplicate
        report.rejected_duplicate += 1
        return None
    grams = shingles(text)
    if len(grams & asked) >= MAX_COPIED * len(grams):
        report.reject("copies the request")
        return None
    record, errors = _make_record(config, target, text, number)
    if record is None:
        report.reject(f"schema: {errors}")
    return record


def _call_seed(seed: int, total: int, attempt: int) -> int:
    """A distinct, reproducible sampling seed per call, also across resumed runs."""
    digest = hashlib.sha256(f"{seed}:{total}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def _record_key(record: Record) -> tuple[str, str | None]:
    if isinstance(getattr(record, "values", None), tuple):
        return record.values[0], record.pole  # type: ignore[union-attr]
    return getattr(record, "value", ""), None


def _failures_of(backend: Backend) -> FailureCounts:
    """A copy of the backend's failure counts (all zero for a backend that keeps none)."""
    counts = getattr(backend, "failures", None)
    return replace(counts) if isinstance(counts, FailureCounts) else FailureCounts()


def _failures_since(backend: Backend, before: FailureCounts) -> FailureCounts:
    """What the backend counted since ``before``: this run's share when it is reused."""
    return _failures_of(backend).minus(before)
