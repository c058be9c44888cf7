"""The ValueInsight schema: dimensions, poles, basic values, record types, and validation.

Records are stored as JSON Lines, one object per line. Three kinds:

- ``descriptions``: ``{"id", "dimension", "pole", "values", "text"}``
- ``prompts``: ``{"id", "dimension", "value", "domain", "split", "situation_id", "text"}``
- ``questionnaire``: ``{"id", "value", "dimensions", "text"}``

:func:`validate_file` reads a file and reports every defect in one pass, each with the file,
the line (1-based) and the field, so that a user can fix their own dataset.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

from valuelocate import vocab

# Defined once in valuelocate.vocab; the dataset reads them as plain strings.
DIMENSIONS: tuple[str, ...] = vocab.DIMENSIONS
POLES: tuple[str, ...] = vocab.POLES
OPPOSITE: dict[str, str] = vocab.OPPOSITE
SPLITS: tuple[str, ...] = ("search", "test")

# Schwartz's basic values per higher-order dimension; hedonism is shared by two.
BASIC_VALUES: dict[str, tuple[str, ...]] = {
    "openness_to_change": ("self_direction", "stimulation", "hedonism"),
    "conservation": ("security", "conformity", "tradition"),
    "self_transcendence": ("universalism", "benevolence"),
    "self_enhancement": ("power", "achievement", "hedonism"),
}
ALL_VALUES: tuple[str, ...] = tuple(sorted({v for vs in BASIC_VALUES.values() for v in vs}))


# How the dimensions are written in prose (rubrics, requests, reports).
DIMENSION_NAMES: dict[str, str] = vocab.DIMENSION_LABELS

# Schwartz's short definitions of the basic values, given to generating and judging models so
# that they aim at the right value.
VALUE_DEFINITIONS: dict[str, str] = {
    "self_direction": "independent thought and action: choosing, creating, exploring",
    "stimulation": "excitement, novelty and challenge in life",
    "hedonism": "pleasure and sensuous gratification for oneself",
    "achievement": "personal success through showing competence by social standards",
    "power": "social status and prestige, control or dominance over people and resources",
    "security": "safety, harmony and stability of society, of relationships and of self",
    "conformity": "restraint of actions and impulses that could upset others or break norms",
    "tradition": "respect for and acceptance of the customs and ideas of one's culture or faith",
    "benevolence": "preserving and enhancing the welfare of the people one is close to",
    "universalism": "understanding, tolerance and protection of the welfare of all people and "
    "of nature",
}

# The life domains situational prompts are set in.
DOMAINS: tuple[str, ...] = (
    "work",
    "family",
    "friends",
    "community",
    "school",
    "money",
    "health",
    "travel",
    "technology",
    "politics",
    "environment",
    "religion_culture",
    "leisure",
)

# The 6-point portrait answer scale, from 1 (least like me) to 6 (most like me).
ANSWER_SCALE: tuple[str, ...] = (
    "Not like me at all",
    "Not like me",
    "A little like me",
    "Somewhat like me",
    "Like me",
    "Very much like me",
)

Kind = Literal["descriptions", "prompts", "questionnaire"]
KINDS: tuple[Kind, ...] = ("descriptions", "prompts", "questionnaire")


@dataclass(frozen=True)
class Description:
    """A first-person or persona statement of what someone holds important."""

    id: str
    dimension: str
    pole: str
    values: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class SituationalPrompt:
    """A concrete situation plus an open question; neutral between the poles."""

    id: str
    dimension: str
    value: str
    domain: str
    split: str
    situation_id: str
    text: str


@dataclass(frozen=True)
class QuestionnaireItem:
    """A portrait-style item ("This person ...") mapped to its basic value."""

    id: str
    value: str
    dimensions: tuple[str, ...]
    text: str


Record: TypeAlias = Description | SituationalPrompt | QuestionnaireItem

_FIELDS: dict[str, tuple[str, ...]] = {
    "descriptions": ("id", "dimension", "pole", "values", "text"),
    "prompts": ("id", "dimension", "value", "domain", "split", "situation_id", "text"),
    "questionnaire": ("id", "value", "dimensions", "text"),
}


@dataclass(frozen=True)
class ValidationIssue:
    """One defect: where it is and what is wrong."""

    path: str
    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


class DatasetError(ValueError):
    """A dataset file failed validation; ``issues`` holds every defect found."""

    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = issues
        shown = "\n".join(str(i) for i in issues[:20])
        more = f"\n... and {len(issues) - 20} more" if len(issues) > 20 else ""
        super().__init__(f"{len(issues)} problem(s) in the dataset:\n{shown}{more}")


def text_field(obj: dict[str, Any], name: str, errors: list[tuple[str, str]]) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        errors.append((name, f"must be a string, got {type(value).__name__}"))
        return ""
    if not value.strip():
        errors.append((name, "is empty"))
    return value


def choice_field(
    obj: dict[str, Any], name: str, choices: Iterable[str], errors: list[tuple[str, str]]
) -> str:
    value = text_field(obj, name, errors)
    choices = tuple(choices)
    if value and value not in choices:
        errors.append((name, f"unknown value {value!r}; expected one of: {', '.join(choices)}"))
    return value


def _str_list(obj: dict[str, Any], name: str, errors: list[tuple[str, str]]) -> tuple[str, ...]:
    value = obj.get(name)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        errors.append((name, "must be a non-empty list of strings"))
        return ()
    return tuple(value)


def detect_kind(obj: dict[str, Any]) -> Kind | None:
    """Guess a record's kind from its fields (``pole`` -> descriptions, ``split`` -> prompts,
    ``dimensions`` -> questionnaire)."""
    if "pole" in obj:
        return "descriptions"
    if "split" in obj or "situation_id" in obj:
        return "prompts"
    if "dimensions" in obj:
        return "questionnaire"
    return None


def parse_record(kind: Kind, obj: Any) -> tuple[Record | None, list[tuple[str, str]]]:
    """Check one decoded JSON object against ``kind``'s schema.

    Returns:
        ``(record, [])`` when valid, else ``(None, [(field, message), ...])`` with every
        defect of the object.
    """
    if not isinstance(obj, dict):
        return None, [("(record)", f"must be a JSON object, got {type(obj).__name__}")]
    errors: list[tuple[str, str]] = []
    missing = [f for f in _FIELDS[kind] if f not in obj]
    errors.extend((f, "missing field") for f in missing)
    present = {f: obj[f] for f in _FIELDS[kind] if f in obj}
    check = dict(present)

    def get(name: str, fn: Any, *args: Any) -> Any:
        return fn(check, name, *args, errors) if name in check else None

    record: Record | None = None
    if kind == "descriptions":
        rid = get("id", text_field)
        dim = get("dimension", choice_field, DIMENSIONS)
        pole = get("pole", choice_field, POLES)
        values = get("values", _str_list)
        text = get("text", text_field)
        for v in values or ():
            if v not in ALL_VALUES:
                errors.append(("values", f"unknown basic value {v!r}"))
        if not errors:
            record = Description(rid, dim, pole, values, text)
    elif kind == "prompts":
        rid = get("id", text_field)
        dim = get("dimension", choice_field, DIMENSIONS)
        allowed = BASIC_VALUES.get(dim or "", ALL_VALUES)
        value = get("value", choice_field, allowed)
        domain = get("domain", text_field)
        split = get("split", choice_field, SPLITS)
        situation = get("situation_id", text_field)
        text = get("text", text_field)
        if not errors:
            record = SituationalPrompt(rid, dim, value, domain, split, situation, text)
    else:
        rid = get("id", text_field)
        value = get("value", choice_field, ALL_VALUES)
        dims = get("dimensions", _str_list)
        text = get("text", text_field)
        for d in dims or ():
            if d not in DIMENSIONS:
                errors.append(("dimensions", f"unknown dimension {d!r}"))
        if not errors:
            record = QuestionnaireItem(rid, value, dims, text)
    return record, errors


def validate_file(
    path: str | Path, kind: Kind | None = None
) -> tuple[list[Record], list[ValidationIssue]]:
    """Read a JSONL dataset file and check every line.

    Args:
        path: the file.
        kind: the record kind; detected from the first object when ``None``.

    Returns:
        ``(records, issues)``: the valid records, and every defect (bad JSON, missing field,
        unknown dimension/pole/value, empty text, duplicate id) with its line and field.
    """
    path = Path(path)
    name = str(path)
    issues: list[ValidationIssue] = []
    records: list[Record] = []
    seen: dict[str, int] = {}
    if not path.is_file():
        return [], [ValidationIssue(name, 0, None, "file not found")]
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [], [ValidationIssue(name, 0, None, f"cannot read the file: {exc.strerror or exc}")]
    for lineno, obj in jsonl_lines(name, data, issues):
        if kind is None and isinstance(obj, dict):
            kind = detect_kind(obj)
            if kind is None:
                issues.append(
                    ValidationIssue(
                        name,
                        lineno,
                        None,
                        "cannot tell the record kind (no 'pole', 'split' or 'dimensions' field)",
                    )
                )
                continue
        record, errors = parse_record(kind or "descriptions", obj)
        issues.extend(ValidationIssue(name, lineno, f, m) for f, m in errors)
        if repeats_id(obj, seen, name, lineno, issues):
            record = None
        if record is not None:
            records.append(record)
    if not records and not issues:
        issues.append(ValidationIssue(name, 0, None, "file holds no records"))
    return records, issues


def jsonl_lines(name: str, data: bytes, issues: list[ValidationIssue]) -> Iterator[tuple[int, Any]]:
    """Each non-blank line's JSON value with its 1-based line number.

    Lines are decoded one by one, so that undecodable bytes or invalid JSON are a defect of
    their line (appended to ``issues``), not a crash of the whole file.
    """
    for lineno, raw_bytes in enumerate(data.splitlines(), start=1):
        try:
            raw = raw_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            msg = f"not UTF-8 text (byte {exc.start + 1} of the line)"
            issues.append(ValidationIssue(name, lineno, None, msg))
            continue
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            issues.append(ValidationIssue(name, lineno, None, f"invalid JSON: {exc.msg}"))
            continue
        yield lineno, obj


def repeats_id(
    obj: Any, seen: dict[str, int], name: str, lineno: int, issues: list[ValidationIssue]
) -> bool:
    """Whether ``obj``'s ``id`` was seen on an earlier line (then an issue is appended);
    a new id is remembered in ``seen``."""
    rid = obj.get("id") if isinstance(obj, dict) else None
    if not isinstance(rid, str) or not rid:
        return False
    if rid in seen:
        msg = f"duplicate id {rid!r} (first on line {seen[rid]})"
        issues.append(ValidationIssue(name, lineno, "id", msg))
        return True
    seen[rid] = lineno
    return False


def load_file(path: str | Path, kind: Kind | None = None) -> list[Record]:
    """Read and validate a JSONL file; raise :class:`DatasetError` listing all defects."""
    records, issues = validate_file(path, kind)
    if issues:
        raise DatasetError(issues)
    return records


def record_to_dict(record: Record) -> dict[str, Any]:
    """The JSON object of a record (tuples become lists), fields in schema order."""
    from dataclasses import asdict

    data = asdict(record)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
