"""ValueInsight: the dataset that locates and evaluates value neurons.

Three parts ship with the package (``valuelocate/data/files``), all written by this project:

- 640 **descriptions** (4 dimensions x 2 poles x 80): what someone holds important;
- 15,000 **situational prompts** (3,750 per dimension), split ``search``/``test`` by
  situation, built by :mod:`valuelocate.data.builder`;
- 40 **questionnaire** items in the portrait style, four per basic value.

Usage::

    from valuelocate.data import load_descriptions, load_prompts

    affirm = load_descriptions(dimension="conservation", pole="affirm")   # 80 records
    search = load_prompts(dimension="conservation", split="search")       # about 3,000
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from valuelocate.data.neutral import load_neutral_texts
from valuelocate.data.schema import (
    ALL_VALUES,
    ANSWER_SCALE,
    BASIC_VALUES,
    DIMENSION_NAMES,
    DIMENSIONS,
    DOMAINS,
    KINDS,
    OPPOSITE,
    POLES,
    SPLITS,
    VALUE_DEFINITIONS,
    DatasetError,
    Description,
    Kind,
    QuestionnaireItem,
    Record,
    SituationalPrompt,
    ValidationIssue,
    detect_kind,
    load_file,
    parse_record,
    record_to_dict,
    validate_file,
)

__all__ = [
    "ALL_VALUES",
    "ANSWER_SCALE",
    "BASIC_VALUES",
    "DIMENSIONS",
    "DIMENSION_NAMES",
    "DOMAINS",
    "KINDS",
    "OPPOSITE",
    "POLES",
    "SPLITS",
    "VALUE_DEFINITIONS",
    "DatasetError",
    "Description",
    "Kind",
    "QuestionnaireItem",
    "Record",
    "SituationalPrompt",
    "ValidationIssue",
    "data_file",
    "dataset_hash",
    "detect_kind",
    "load_descriptions",
    "load_file",
    "load_neutral_texts",
    "load_prompts",
    "load_questionnaire",
    "parse_record",
    "record_to_dict",
    "summary",
    "validate_file",
]

_FILES_DIR = Path(__file__).with_name("files")


def data_file(kind: str) -> Path:
    """The path of a shipped dataset file.

    Args:
        kind: ``"descriptions"``, ``"prompts"`` or ``"questionnaire"``.

    Returns:
        The path of ``<kind>.jsonl`` inside the installed package.

    Raises:
        ValueError: for an unknown kind (the message lists the valid ones).

    Example:
        >>> data_file("prompts").name
        'prompts.jsonl'
    """
    _check("kind", kind, KINDS)
    return _FILES_DIR / f"{kind}.jsonl"


def _check(name: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")


@functools.cache
def _load(kind: Kind) -> tuple[Record, ...]:
    # Cached as a tuple of frozen records: callers get fresh lists, nothing shared is mutable.
    return tuple(load_file(data_file(kind), kind))


def load_descriptions(
    *, dimension: str | None = None, pole: str | None = None
) -> list[Description]:
    """The shipped value descriptions, optionally filtered.

    Args:
        dimension: keep one of :data:`DIMENSIONS` only.
        pole: keep ``"affirm"`` or ``"oppose"`` only.

    Returns:
        The descriptions in file order. ``values`` lists the basic values of the description's
        dimension that it affirms (affirming pole) or rejects (opposing pole).

    Raises:
        ValueError: for an unknown dimension or pole.

    Example:
        >>> len(load_descriptions(dimension="conservation", pole="oppose"))
        80
    """
    _check("dimension", dimension, DIMENSIONS)
    _check("pole", pole, POLES)
    records: tuple[Description, ...] = _load("descriptions")  # type: ignore[assignment]
    return [
        r
        for r in records
        if (dimension is None or r.dimension == dimension) and (pole is None or r.pole == pole)
    ]


def load_prompts(
    *,
    dimension: str | None = None,
    split: str | None = None,
    value: str | None = None,
    domain: str | None = None,
) -> list[SituationalPrompt]:
    """The shipped situational prompts, optionally filtered.

    Args:
        dimension: keep one of :data:`DIMENSIONS` only.
        split: keep ``"search"`` or ``"test"`` only.
        value: keep one basic value only (one of :data:`ALL_VALUES`; hedonism occurs in two
            dimensions).
        domain: keep one life domain only (see :data:`DOMAINS`).

    Returns:
        The prompts in file order.

    Raises:
        ValueError: for an unknown dimension, split, value or domain.

    Example:
        >>> len(load_prompts(dimension="self_enhancement"))
        3750
    """
    _check("dimension", dimension, DIMENSIONS)
    _check("split", split, SPLITS)
    _check("value", value, ALL_VALUES)
    _check("domain", domain, DOMAINS)
    records: tuple[SituationalPrompt, ...] = _load("prompts")  # type: ignore[assignment]
    return [
        r
        for r in records
        if (dimension is None or r.dimension == dimension)
        and (split is None or r.split == split)
        and (value is None or r.value == value)
        and (domain is None or r.domain == domain)
    ]


def load_questionnaire() -> list[QuestionnaireItem]:
    """The shipped portrait items, answered on the 6-point :data:`ANSWER_SCALE`.

    Returns:
        The items in file order; ``dimensions`` holds the dimension(s) of the item's value
        (two for hedonism).

    Example:
        >>> len(load_questionnaire()) >= 40
        True
    """
    return list(_load("questionnaire"))  # type: ignore[arg-type]


def dataset_hash() -> str:
    """SHA-256 (hex) over the shipped files, for run manifests.

    The digest covers, for each kind in :data:`KINDS` order, the kind's name and the file's
    bytes, so any change to any file (or a renaming between kinds) changes it.

    Returns:
        64 lowercase hex digits.
    """
    digest = hashlib.sha256()
    for kind in KINDS:
        data = data_file(kind).read_bytes()
        digest.update(f"{kind}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def summary(*, threshold: float = 0.5, near_duplicates: bool = True) -> dict[str, Any]:
    """Counts, lengths and near-duplicate rates of the shipped dataset.

    Args:
        threshold: word 3-gram Jaccard similarity from which two texts count as
            near-duplicates (descriptions compared within dimension and pole, prompts
            within dimension).
        near_duplicates: compute the near-duplicate rates (a few seconds).

    Returns:
        See :func:`valuelocate.data.stats.dataset_stats`.
    """
    from valuelocate.data.stats import dataset_stats

    return dataset_stats(
        load_descriptions(),
        load_prompts(),
        load_questionnaire(),
        threshold=threshold,
        near_dups=near_duplicates,
    )
