"""The parts that :mod:`valuelocate.data.builder` composes into ValueInsight's situational
prompts, read from the JSON files under ``valuelocate/data/files/parts/``.

All text there was written for this project. A prompt is

    <situation, its slots filled> <one of the situation's details> [<a neutral remark>] <question>

The files:

- ``questions.json``: open questions about what the respondent thinks and would do, none of
  which suggests an answer; ``remarks.json``: neutral remarks, optionally put before them;
- ``situations/<dimension>.json``: the dimension's situations, each an object
  ``{"value", "domain", "key", "text", "slots", "details"}``: a basic value of the dimension,
  a life domain (:data:`~valuelocate.data.schema.DOMAINS`), a key unique within the dimension,
  a text with ``{slot}`` fields, the fills of each slot, and at least two further facts (one
  is chosen per prompt).

Rules for writers: describe both sides of the choice fairly, never name a dimension, a basic
value or a pole (the builder's neutrality lists are checked by the tests), and leave the answer
open. Fills must fit the sentence grammatically wherever they are used.
"""

from __future__ import annotations

import functools
import itertools
import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valuelocate.data.schema import BASIC_VALUES, DIMENSIONS, DOMAINS

PARTS_DIR = Path(__file__).with_name("files") / "parts"


class PartsError(ValueError):
    """The parts are malformed; the message names the file and the situation."""


@dataclass(frozen=True)
class Situation:
    """One hand-written situation: a text with slots, their fills, and further details."""

    dimension: str
    value: str
    domain: str
    key: str
    text: str
    slots: dict[str, tuple[str, ...]]
    details: tuple[str, ...]

    @property
    def situation_id(self) -> str:
        """The id shared by every prompt built from this situation."""
        return f"sit-{self.dimension}-{self.key}"

    def combinations(self) -> list[dict[str, str]]:
        """Every way to fill the slots, in a fixed order."""
        names = sorted(self.slots)
        return [
            dict(zip(names, fills, strict=True))
            for fills in itertools.product(*(self.slots[n] for n in names))
        ]


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise PartsError(f"{where}: expected a non-empty list of non-empty strings")
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise PartsError(f"{where}: expected a non-empty list of non-empty strings")
    return tuple(value)


def situations_from_json(dimension: str, items: Any, where: str = "") -> list[Situation]:
    """Check and convert one dimension's situations, as decoded from its JSON file.

    Args:
        dimension: the dimension they belong to.
        items: the decoded list of situation objects.
        where: the file, named in errors.

    Returns:
        The situations, in the order written.

    Raises:
        PartsError: for an unknown dimension, value or domain, a duplicate key, a slot used
            but not filled (or filled but not used), or a situation with fewer than two
            details.
    """
    where = where or f"situations of {dimension}"
    if dimension not in DIMENSIONS:
        raise PartsError(f"{where}: unknown dimension {dimension!r}")
    if not isinstance(items, list):
        raise PartsError(f"{where}: expected a list of situations")
    out: list[Situation] = []
    seen: set[str] = set()
    for number, item in enumerate(items, start=1):
        at = f"{where}: situation {number}"
        if not isinstance(item, dict):
            raise PartsError(f"{at}: expected an object")
        missing = {"value", "domain", "key", "text", "slots", "details"} - set(item)
        if missing:
            raise PartsError(f"{at}: missing {', '.join(sorted(missing))}")
        key = item["key"]
        at = f"{where}: situation {key!r}"
        if item["value"] not in BASIC_VALUES[dimension]:
            raise PartsError(f"{at}: {item['value']!r} is not a value of {dimension}")
        if item["domain"] not in DOMAINS:
            raise PartsError(f"{at}: unknown domain {item['domain']!r}")
        if key in seen:
            raise PartsError(f"{at}: duplicate key {key!r} in {dimension}")
        seen.add(key)
        text = item["text"]
        if not isinstance(text, str) or not isinstance(item["slots"], dict):
            raise PartsError(f"{at}: text must be a string and slots an object")
        slots = {n: _strings(fills, f"{at}: slot {n!r}") for n, fills in item["slots"].items()}
        used = {f for _, f, _, _ in string.Formatter().parse(text) if f}
        if used != set(slots):
            raise PartsError(f"{at}: slots used {sorted(used)} but filled {sorted(slots)}")
        details = _strings(item["details"], f"{at}: details")
        if len(details) < 2:
            raise PartsError(f"{at}: needs at least two details")
        out.append(Situation(dimension, item["value"], item["domain"], key, text, slots, details))
    return out


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PartsError(f"{path}: cannot be read as JSON ({exc})") from None


@functools.cache
def load_situations(folder: Path = PARTS_DIR) -> tuple[Situation, ...]:
    """Every dimension's situations, in :data:`DIMENSIONS` order.

    Args:
        folder: the parts folder (default: the shipped one).

    Returns:
        The situations.

    Raises:
        PartsError: a file is missing, not JSON, or malformed.
    """
    situations: list[Situation] = []
    for dimension in DIMENSIONS:
        path = folder / "situations" / f"{dimension}.json"
        situations += situations_from_json(dimension, _read(path), str(path))
    return tuple(situations)


def load_phrases(name: str, folder: Path = PARTS_DIR) -> tuple[str, ...]:
    """The shared phrases ``questions`` or ``remarks``.

    Raises:
        PartsError: the file is missing or not a list of strings.
    """
    path = folder / f"{name}.json"
    return _strings(_read(path), str(path))


QUESTIONS: tuple[str, ...] = load_phrases("questions")
REMARKS: tuple[str, ...] = load_phrases("remarks")
