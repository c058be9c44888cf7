"""Forced-choice items: the sensitive instrument of value orientation (METHOD.md section 7).

Each item is a concrete, neutral situation followed by two first-person answers of similar
length and register: one a person who holds the dimension's values would give (``affirm``),
one a person who rejects them would give (``oppose``). Neither answer names the value, so the
model's preference between them (by likelihood, or as an A/B choice) reads its orientation
rather than its recognition of a keyword.

The shipped file (``files/forced_choice.jsonl``) is project-written and shares no situation
with the locating prompts. Its three splits (:data:`FORCED_CHOICE_SPLITS`, per dimension):
``search`` (40 items: may locate and choose), ``dev`` (40: chooses, never locates; these were
the ``test`` split until they had been read many times while choosing the default) and
``test`` (100 new items, ``fc-otc-101`` ...: the held-out verdict only, never read to choose or
calibrate; appended when written). One JSON object per line::

    {"id": "fc-con-001", "dimension": "conservation", "split": "search", "domain": "work",
     "values": ["security"], "situation": "...", "affirm": "...", "oppose": "..."}

:func:`validate_forced_choice` reports every defect of a file with its file, line and field;
:func:`load_forced_choice` raises :class:`~valuelocate.data.schema.DatasetError` on any.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from valuelocate.data.schema import (
    BASIC_VALUES,
    DIMENSIONS,
    DatasetError,
    ValidationIssue,
    choice_field,
    jsonl_lines,
    repeats_id,
    text_field,
)
from valuelocate.data.situations import overlap_issues
from valuelocate.data.stats import words

FORCED_CHOICE_FILE = Path(__file__).with_name("files") / "forced_choice.jsonl"
PROMPTS_FILE = Path(__file__).with_name("files") / "prompts.jsonl"

# The forced-choice splits: ``search`` may locate and choose, ``dev`` chooses but never
# locates, ``test`` judges once and is never read to choose or calibrate. (The locating prompts
# and the decision pairs keep schema.SPLITS, search/test.)
FORCED_CHOICE_SPLITS: tuple[str, ...] = ("search", "dev", "test")

FIELDS: tuple[str, ...] = (
    "id",
    "dimension",
    "split",
    "domain",
    "values",
    "situation",
    "affirm",
    "oppose",
)
ID_PREFIX: dict[str, str] = {
    "openness_to_change": "fc-otc",
    "conservation": "fc-con",
    "self_transcendence": "fc-str",
    "self_enhancement": "fc-sen",
}
# The life domains of the situational prompts (METHOD.md section 2).
DOMAINS: tuple[str, ...] = (
    "community",
    "environment",
    "family",
    "friends",
    "health",
    "leisure",
    "money",
    "politics",
    "religion_culture",
    "school",
    "technology",
    "travel",
    "work",
)
# The longer answer may have at most this many times the words of the shorter: a likelihood
# reading is a per-token mean, but very unequal answers differ in more than their values.
MAX_LENGTH_RATIO = 1.25
# Split balance, within each (dimension, split): the basic values' counts differ by at most
# MAX_VALUE_SPREAD (2, not 1: the shipped 40-item splits hold 12 hedonism items beside 14 and
# 14 of the other two values, hedonism being shared by two dimensions; a 100-item split of
# three values reads 34/33/33), and no domain holds more than MAX_DOMAIN_SHARE of the items
# (rounded up). The search/dev pair also keeps its old guarantee: per dimension the two
# differ by at most one item, per value by at most MAX_VALUE_IMBALANCE, per domain by at most
# MAX_DOMAIN_IMBALANCE.
MAX_VALUE_SPREAD = 2
MAX_DOMAIN_SHARE = 0.25
MAX_VALUE_IMBALANCE = 1
MAX_DOMAIN_IMBALANCE = 2

# Words that name a value or a dimension give the answer away; answers must not use them.
_GIVEAWAY = re.compile(
    r"\b(tradition\w*|power\w*|universalis\w*|benevolen\w*|secur\w*|stimulat\w*|hedonis\w*|"
    r"conform\w*|achiev\w*|self[- ]direct\w*|openness|conservati\w*|transcend\w*|"
    r"self[- ]enhanc\w*|values?)\b",
    re.IGNORECASE,
)


class ForcedChoiceLike(Protocol):
    """What the instrument reads from an item (the shipped items' dataclass has more)."""

    @property
    def id(self) -> str: ...
    @property
    def dimension(self) -> str: ...
    @property
    def situation(self) -> str: ...
    @property
    def affirm(self) -> str: ...
    @property
    def oppose(self) -> str: ...


@dataclass(frozen=True)
class ForcedChoiceItem:
    """A situation and the two answers that express the poles of one dimension."""

    id: str
    dimension: str
    split: str
    domain: str
    values: tuple[str, ...]
    situation: str
    affirm: str
    oppose: str


def parse_item(
    obj: Any, *, splits: tuple[str, ...] = FORCED_CHOICE_SPLITS
) -> tuple[ForcedChoiceItem | None, list[tuple[str, str]]]:
    """Check one decoded JSON object; ``(item, [])`` when valid, else ``(None, errors)``.

    Checks the fields and their types, known dimension/split (one of ``splits``)/domain/values,
    the id's prefix, non-empty texts, the answers' length ratio and giveaway words in the
    answers.
    """
    if not isinstance(obj, dict):
        return None, [("(record)", f"must be a JSON object, got {type(obj).__name__}")]
    errors: list[tuple[str, str]] = [(f, "missing field") for f in FIELDS if f not in obj]
    errors.extend((f, "unknown field") for f in obj if f not in FIELDS)
    present = {f: obj[f] for f in FIELDS if f in obj}
    dim = choice_field(present, "dimension", DIMENSIONS, errors) if "dimension" in present else ""
    rid = text_field(present, "id", errors) if "id" in present else ""
    code = ID_PREFIX.get(dim, "").removeprefix("fc-")
    if rid and code and not re.fullmatch(rf"(fc|dp)-{code}-\d{{3}}", rid):
        errors.append(
            ("id", f"must look like fc-{code}-NNN (dp-{code}-NNN: a decision pair) for {dim}")
        )
    split = choice_field(present, "split", splits, errors) if "split" in present else ""
    domain = choice_field(present, "domain", DOMAINS, errors) if "domain" in present else ""
    values: tuple[str, ...] = ()
    if "values" in present:
        raw = present["values"]
        if not isinstance(raw, list) or not raw or not all(isinstance(v, str) for v in raw):
            errors.append(("values", "must be a non-empty list of strings"))
        else:
            values = tuple(raw)
            allowed = BASIC_VALUES.get(dim, ())
            for v in values:
                if dim in BASIC_VALUES and v not in allowed:
                    errors.append(("values", f"{v!r} is not a basic value of {dim}"))
    texts = {
        name: text_field(present, name, errors) if name in present else ""
        for name in ("situation", "affirm", "oppose")
    }
    for name in ("affirm", "oppose"):
        if hit := _GIVEAWAY.search(texts[name]):
            errors.append((name, f"uses the giveaway word {hit.group(0)!r}"))
    n_aff, n_opp = len(words(texts["affirm"])), len(words(texts["oppose"]))
    if n_aff and n_opp and max(n_aff, n_opp) > MAX_LENGTH_RATIO * min(n_aff, n_opp):
        errors.append(
            (
                "oppose" if n_opp > n_aff else "affirm",
                f"answers differ too much in length ({n_aff} vs {n_opp} words; "
                f"at most {MAX_LENGTH_RATIO}x)",
            )
        )
    if errors:
        return None, errors
    item = ForcedChoiceItem(
        rid, dim, split, domain, values, texts["situation"], texts["affirm"], texts["oppose"]
    )
    return item, []


def _balance_issues(name: str, items: list[ForcedChoiceItem]) -> list[ValidationIssue]:
    """Unbalanced splits (line 0, field ``split``): the values and domains within each
    (dimension, split), then the search/dev pair of each dimension that has both."""
    issues: list[ValidationIssue] = []
    count: Counter[tuple[str, str, str, str]] = Counter()  # (kind, dimension, split, key)
    for i in items:
        count["dimension", i.dimension, i.split, ""] += 1
        count["domain", i.dimension, i.split, i.domain] += 1
        for v in i.values:
            count["value", i.dimension, i.split, v] += 1
    for dim in DIMENSIONS:
        for split in FORCED_CHOICE_SPLITS:
            if not (n := count["dimension", dim, split, ""]):
                continue
            values = {v: count["value", dim, split, v] for v in BASIC_VALUES[dim]}
            if max(values.values()) - min(values.values()) > MAX_VALUE_SPREAD:
                shown = ", ".join(f"{v} {k}" for v, k in values.items())
                msg = (
                    f"{dim}, {split}: unbalanced values ({shown}; at most {MAX_VALUE_SPREAD} apart)"
                )
                issues.append(ValidationIssue(name, 0, "split", msg))
            cap = math.ceil(MAX_DOMAIN_SHARE * n)
            for domain in DOMAINS:
                if (k := count["domain", dim, split, domain]) > cap:
                    msg = (
                        f"{dim}, {split}: domain {domain} holds {k} of {n} items (at most {cap}: "
                        f"{MAX_DOMAIN_SHARE:.0%} of the split, rounded up)"
                    )
                    issues.append(ValidationIssue(name, 0, "split", msg))
    limits = {"dimension": 1, "value": MAX_VALUE_IMBALANCE, "domain": MAX_DOMAIN_IMBALANCE}
    for dim in DIMENSIONS:
        if not (count["dimension", dim, "search", ""] and count["dimension", dim, "dev", ""]):
            continue
        keys = [("dimension", ""), *(("value", v) for v in BASIC_VALUES[dim])]
        for kind, key in [*keys, *(("domain", d) for d in DOMAINS)]:
            d = count[kind, dim, "search", key] - count[kind, dim, "dev", key]
            if abs(d) > limits[kind]:
                what = dim if kind == "dimension" else f"{dim}, {kind} {key}"
                msg = (
                    f"unbalanced splits for {what}: search minus dev = {d:+d} "
                    f"(at most {limits[kind]})"
                )
                issues.append(ValidationIssue(name, 0, "split", msg))
    return issues


def validate_forced_choice(
    path: str | Path | None = None,
    *,
    prompts_path: str | Path | None = PROMPTS_FILE,
    check_balance: bool = True,
    splits: tuple[str, ...] = FORCED_CHOICE_SPLITS,
) -> list[ValidationIssue]:
    """Check a forced-choice JSONL file and report every defect.

    Args:
        path: the file; the shipped one when ``None``.
        prompts_path: the locating prompts that no situation may duplicate or nearly
            duplicate; ``None`` skips that check (it reads 15,000 prompts, a few seconds).
            Situations repeated within the file are always reported.
        check_balance: also require balanced splits (issues on line 0, field ``split``):
            within each dimension's split, values at most :data:`MAX_VALUE_SPREAD` apart and
            no domain over :data:`MAX_DOMAIN_SHARE` of the items; search and dev within one
            item per dimension and value, two per domain.
        splits: the allowed values of the ``split`` field (the decision pairs: search/test).

    Returns:
        Every issue (bad JSON, missing or unknown field, wrong type, unknown dimension, split,
        domain or value, malformed or duplicate id, empty text, answers of unequal length,
        giveaway words, near-duplicate situations, unbalanced splits), each with its file,
        line and field; empty when the file is clean.
    """
    path = Path(path) if path is not None else FORCED_CHOICE_FILE
    name = str(path)
    if not path.is_file():
        return [ValidationIssue(name, 0, None, "file not found")]
    issues: list[ValidationIssue] = []
    items: list[tuple[int, ForcedChoiceItem]] = []
    seen: dict[str, int] = {}
    for lineno, obj in jsonl_lines(name, path.read_bytes(), issues):
        item, errors = parse_item(obj, splits=splits)
        issues.extend(ValidationIssue(name, lineno, f, m) for f, m in errors)
        if repeats_id(obj, seen, name, lineno, issues):
            item = None
        if item is not None:
            items.append((lineno, item))
    if not items and not issues:
        issues.append(ValidationIssue(name, 0, None, "file holds no items"))
    prompts = Path(prompts_path) if prompts_path is not None else None
    issues.extend(overlap_issues(name, [(n, i.situation) for n, i in items], prompts))
    if check_balance and items:
        issues.extend(_balance_issues(name, [i for _, i in items]))
    return issues


@functools.lru_cache(maxsize=8)
def _read(path: str, splits: tuple[str, ...]) -> tuple[ForcedChoiceItem, ...]:
    # Loading checks each item (cheap); the prompt-overlap and balance checks belong to
    # validation and to the tests of the shipped file.
    issues = validate_forced_choice(path, prompts_path=None, check_balance=False, splits=splits)
    if issues:
        raise DatasetError(issues)
    items: list[ForcedChoiceItem] = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        if raw.strip():
            item, _ = parse_item(json.loads(raw), splits=splits)
            assert item is not None  # validated above
            items.append(item)
    return tuple(items)


def select_items(
    path: Path, *, dimension: str | None, split: str | None, splits: tuple[str, ...]
) -> list[ForcedChoiceItem]:
    """The items of a file whose ``split`` field takes one of ``splits``, optionally of one
    dimension and split (:func:`load_forced_choice`; the decision pairs pass search/test)."""
    if dimension is not None and dimension not in DIMENSIONS:
        raise ValueError(f"Unknown dimension {dimension!r}; expected one of {DIMENSIONS}")
    if split is not None and split not in splits:
        raise ValueError(f"Unknown split {split!r}; expected one of {splits}")
    return [
        i
        for i in _read(str(path.resolve()), splits)
        if (dimension is None or i.dimension == dimension) and (split is None or i.split == split)
    ]


def load_forced_choice(
    *,
    dimension: str | None = None,
    split: str | None = None,
    path: str | Path | None = None,
) -> list[ForcedChoiceItem]:
    """The forced-choice items, optionally of one dimension and split.

    Args:
        dimension: one of :data:`~valuelocate.data.schema.DIMENSIONS`, or ``None`` for all.
        split: ``search`` (may locate and choose), ``dev`` (chooses, never locates) or
            ``test`` (the held-out verdict only), or ``None`` for all three.
        path: a JSONL file of the same schema; the shipped file when ``None``.

    Raises:
        DatasetError: the file has defects (each named with its line and field).
        ValueError: unknown ``dimension`` or ``split``.

    Example:
        >>> items = load_forced_choice(dimension="conservation", split="dev")
        >>> len(items)
        40
    """
    return select_items(
        Path(path) if path is not None else FORCED_CHOICE_FILE,
        dimension=dimension,
        split=split,
        splits=FORCED_CHOICE_SPLITS,
    )
