"""Forced-choice items: the sensitive instrument of value orientation (METHOD.md section 7).

Each item is a concrete, neutral situation followed by two first-person answers of similar
length and register: one a person who holds the dimension's values would give (``affirm``),
one a person who rejects them would give (``oppose``). Neither answer names the value, so the
model's preference between them (by likelihood, or as an A/B choice) reads its orientation
rather than its recognition of a keyword.

The shipped file (``files/forced_choice.jsonl``, 80 items per dimension, 40 ``search`` / 40
``test``) is project-written and shares no situation with the locating prompts; the ``test``
split is for evaluation only. One JSON object per line::

    {"id": "fc-con-001", "dimension": "conservation", "split": "search", "domain": "work",
     "values": ["security"], "situation": "...", "affirm": "...", "oppose": "..."}

:func:`validate_forced_choice` reports every defect of a file with its file, line and field;
:func:`load_forced_choice` raises :class:`~valuelocate.data.schema.DatasetError` on any.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from valuelocate.data.schema import (
    BASIC_VALUES,
    DIMENSIONS,
    SPLITS,
    DatasetError,
    ValidationIssue,
    choice_field,
    jsonl_lines,
    repeats_id,
    text_field,
)
from valuelocate.data.stats import jaccard, words

FORCED_CHOICE_FILE = Path(__file__).with_name("files") / "forced_choice.jsonl"
PROMPTS_FILE = Path(__file__).with_name("files") / "prompts.jsonl"

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
# Situations whose content words overlap a locating prompt's situation this much (Jaccard)
# count as near-duplicates: evaluation must not reuse what located the neurons.
NEAR_DUPLICATE_JACCARD = 0.4
# Split balance: per dimension and value the two splits differ by at most one item, per
# dimension and domain by at most two.
MAX_VALUE_IMBALANCE = 1
MAX_DOMAIN_IMBALANCE = 2

# Words that name a value or a dimension give the answer away; answers must not use them.
_GIVEAWAY = re.compile(
    r"\b(tradition\w*|power\w*|universalis\w*|benevolen\w*|secur\w*|stimulat\w*|hedonis\w*|"
    r"conform\w*|achiev\w*|self[- ]direct\w*|openness|conservati\w*|transcend\w*|"
    r"self[- ]enhanc\w*|values?)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        "a an the and or but if of to in on at for from by with as is are was were be been "
        "being you your yours i me my we our us he she his her they their them it its this "
        "that these those there here has have had do does did will would could should can may "
        "might must not no so than then too very just about into over out up down all any some "
        "one two who whom which what when where why how each every other another more most own "
        "same",
    )
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


def _content(text: str) -> frozenset[str]:
    return frozenset(w.rstrip("s") for w in words(text) if w not in _STOPWORDS and len(w) > 2)


def parse_item(obj: Any) -> tuple[ForcedChoiceItem | None, list[tuple[str, str]]]:
    """Check one decoded JSON object; ``(item, [])`` when valid, else ``(None, errors)``.

    Checks the fields and their types, known dimension/split/domain/values, the id's prefix,
    non-empty texts, the answers' length ratio and giveaway words in the answers.
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
    split = choice_field(present, "split", SPLITS, errors) if "split" in present else ""
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


class _SituationIndex:
    """Content-word sets of many situations with an inverted index, so that the best
    Jaccard overlap of a new situation is found by counting shared words, not by scanning."""

    def __init__(self, situations: Iterable[str]) -> None:
        self.texts: list[str] = []
        self.sizes: list[int] = []
        self.postings: dict[str, list[int]] = {}
        for text in situations:
            words = _content(text)
            for w in words:
                self.postings.setdefault(w, []).append(len(self.texts))
            self.texts.append(text)
            self.sizes.append(len(words))

    def best(self, words: frozenset[str]) -> tuple[float, str]:
        shared: Counter[int] = Counter()
        for w in words:
            shared.update(self.postings.get(w, ()))
        best, best_text = 0.0, ""
        for k, n in shared.items():
            score = n / (len(words) + self.sizes[k] - n)
            if score > best:
                best, best_text = score, self.texts[k]
        return best, best_text


@functools.lru_cache(maxsize=4)
def _prompt_index(path: str) -> _SituationIndex:
    """The situation part of every locating prompt: its sentences before the closing question
    (at most three, the builder's stock sentences follow), deduplicated."""
    seen: dict[str, None] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        sentences = re.split(r"(?<=[.?!])\s+", str(obj.get("text", "")))
        situation = " ".join(s for s in sentences[:3] if not s.endswith("?"))
        if situation:
            seen.setdefault(situation)
    return _SituationIndex(seen)


def _overlap_issues(
    name: str, items: list[tuple[int, ForcedChoiceItem]], prompts_path: Path | None
) -> list[ValidationIssue]:
    """Situations that repeat a locating prompt's (when ``prompts_path`` is given) or an
    earlier item's."""
    issues: list[ValidationIssue] = []
    prompts = _prompt_index(str(prompts_path)) if prompts_path is not None else None
    own: list[tuple[int, frozenset[str]]] = []
    for lineno, item in items:
        words = _content(item.situation)
        best, best_text = prompts.best(words) if prompts is not None else (0.0, "")
        if best >= NEAR_DUPLICATE_JACCARD:
            msg = f"near-duplicate of a locating prompt (overlap {best:.2f}): {best_text[:80]!r}"
            issues.append(ValidationIssue(name, lineno, "situation", msg))
        for other_line, other in own:
            if jaccard(words, other) >= NEAR_DUPLICATE_JACCARD:
                msg = f"near-duplicate of the situation on line {other_line}"
                issues.append(ValidationIssue(name, lineno, "situation", msg))
        own.append((lineno, words))
    return issues


def _balance_issues(name: str, items: list[ForcedChoiceItem]) -> list[ValidationIssue]:
    issues: list[ValidationIssue] = []
    limits = {"dimension": 1, "value": MAX_VALUE_IMBALANCE, "domain": MAX_DOMAIN_IMBALANCE}
    diff: Counter[tuple[str, str, str]] = Counter()
    for i in items:
        sign = 1 if i.split == "search" else -1
        diff[("dimension", i.dimension, "")] += sign
        diff[("domain", i.dimension, i.domain)] += sign
        for v in i.values:
            diff[("value", i.dimension, v)] += sign
    for (kind, dim, key), d in sorted(diff.items()):
        if abs(d) > limits[kind]:
            what = dim if kind == "dimension" else f"{dim}, {kind} {key}"
            msg = f"unbalanced splits for {what}: search minus test = {d} (at most {limits[kind]})"
            issues.append(ValidationIssue(name, 0, "split", msg))
    return issues


def validate_forced_choice(
    path: str | Path | None = None,
    *,
    prompts_path: str | Path | None = PROMPTS_FILE,
    check_balance: bool = True,
) -> list[ValidationIssue]:
    """Check a forced-choice JSONL file and report every defect.

    Args:
        path: the file; the shipped one when ``None``.
        prompts_path: the locating prompts that no situation may duplicate or nearly
            duplicate; ``None`` skips that check (it reads 15,000 prompts, a few seconds).
            Situations repeated within the file are always reported.
        check_balance: also require balanced search/test splits per dimension, value and
            domain (issues on line 0, field ``split``).

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
        item, errors = parse_item(obj)
        issues.extend(ValidationIssue(name, lineno, f, m) for f, m in errors)
        if repeats_id(obj, seen, name, lineno, issues):
            item = None
        if item is not None:
            items.append((lineno, item))
    if not items and not issues:
        issues.append(ValidationIssue(name, 0, None, "file holds no items"))
    issues.extend(
        _overlap_issues(name, items, Path(prompts_path) if prompts_path is not None else None)
    )
    if check_balance and items:
        issues.extend(_balance_issues(name, [i for _, i in items]))
    return issues


@functools.lru_cache(maxsize=8)
def _read(path: str) -> tuple[ForcedChoiceItem, ...]:
    # Loading checks each item (cheap); the prompt-overlap and balance checks belong to
    # validation and to the tests of the shipped file.
    issues = validate_forced_choice(path, prompts_path=None, check_balance=False)
    if issues:
        raise DatasetError(issues)
    items: list[ForcedChoiceItem] = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        if raw.strip():
            item, _ = parse_item(json.loads(raw))
            assert item is not None  # validated above
            items.append(item)
    return tuple(items)


def load_forced_choice(
    *,
    dimension: str | None = None,
    split: str | None = None,
    path: str | Path | None = None,
) -> list[ForcedChoiceItem]:
    """The forced-choice items, optionally of one dimension and split.

    Args:
        dimension: one of :data:`~valuelocate.data.schema.DIMENSIONS`, or ``None`` for all.
        split: ``search`` (may locate) or ``test`` (evaluates only), or ``None`` for both.
        path: a JSONL file of the same schema; the shipped file when ``None``.

    Raises:
        DatasetError: the file has defects (each named with its line and field).
        ValueError: unknown ``dimension`` or ``split``.

    Example:
        >>> items = load_forced_choice(dimension="conservation", split="test")
        >>> len(items)
        40
    """
    if dimension is not None and dimension not in DIMENSIONS:
        raise ValueError(f"Unknown dimension {dimension!r}; expected one of {DIMENSIONS}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {SPLITS}")
    items = _read(str(Path(path).resolve() if path is not None else FORCED_CHOICE_FILE))
    return [
        i
        for i in items
        if (dimension is None or i.dimension == dimension) and (split is None or i.split == split)
    ]
