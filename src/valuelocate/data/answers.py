"""Reading what a generation model wrote: the lenient JSON parse of its answer
(:func:`parse_answer`), each item's text (:func:`item_text`), and the quality checks an item
must pass before it is considered (:func:`text_problem`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from valuelocate.data.neutrality import neutrality_violations

# Limits on an item's text; an item outside them is counted as malformed.
MIN_WORDS = 6
MAX_CHARS = 1200
# An item whose word 3-grams come from the request at least this often copies the
# instructions (small models recite the value definitions) instead of writing an item.
MAX_COPIED = 0.5

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_TEXT_KEYS = ("text", "description", "prompt", "statement", "item")


def parse_answer(answer: str) -> list[Any] | None:
    """Read the JSON a model wrote, leniently: code fences and prose around the JSON are
    skipped, and ``{"items": [...]}`` or a single object are accepted as lists.

    Args:
        answer: the model's raw text.

    Returns:
        The decoded items, or ``None`` when the answer holds no JSON list or object.
    """
    candidates = [m.group(1) for m in _FENCE.finditer(answer)] + [answer]
    decoder = json.JSONDecoder()
    for text in candidates:
        for start, char in enumerate(text):
            if char not in "[{":
                continue
            try:
                value, _ = decoder.raw_decode(text, start)
            except ValueError:
                continue
            if isinstance(value, dict):
                inner = next((value[k] for k in ("items", "data", "results") if k in value), None)
                return inner if isinstance(inner, list) else [value]
            # A list of items holds strings or objects; "[1]" in prose is not an answer.
            if any(isinstance(v, (str, dict)) for v in value):
                return value
    return None


def item_text(item: Any) -> str | None:
    """The text of one decoded item: a string, or an object's ``text`` (or a synonym) field;
    for prompts written as ``{"situation", "question"}`` the two joined.

    Args:
        item: one element of :func:`parse_answer`'s list.

    Returns:
        The stripped text, or ``None`` when there is none.
    """
    if isinstance(item, str):
        return item.strip() or None
    if not isinstance(item, dict):
        return None
    for key in _TEXT_KEYS:
        if isinstance(item.get(key), str) and item[key].strip():
            return item[key].strip()
    situation, question = item.get("situation"), item.get("question")
    if isinstance(situation, str) and isinstance(question, str):
        return f"{situation.strip()} {question.strip()}".strip() or None
    return None


def text_problem(kind: str, text: str, dimension: str) -> str | None:
    """Why ``text`` is unusable as an item of ``kind``, or ``None`` when it is fine.

    Args:
        kind: ``descriptions`` or ``prompts``.
        text: the item's text.
        dimension: the item's dimension (prompts are checked for neutrality with the
            builder's word lists, :mod:`valuelocate.data.neutrality`).

    Returns:
        ``"fewer than 6 words"``, ``"longer than 1200 characters"``, ``"no question"`` or
        ``"not neutral"`` (a prompt that names a value or leads the answer), or ``None``.
    """
    if len(text.split()) < MIN_WORDS:
        return f"fewer than {MIN_WORDS} words"
    if len(text) > MAX_CHARS:
        return f"longer than {MAX_CHARS} characters"
    if kind == "prompts":
        if "?" not in text:
            return "no question"
        if neutrality_violations(text, dimension):
            return "not neutral"
    return None
