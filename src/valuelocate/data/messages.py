"""The request one generation call sends: what to write (:class:`Target`) and the chat
messages that ask a model for a JSON list of such items (:func:`build_messages`).

The messages carry Schwartz's short definitions of the basic values, so that even a small model
aims at the right value, and shipped items of the same dimension and pole as style examples
and as texts not to repeat.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from valuelocate.data.schema import BASIC_VALUES, DIMENSION_NAMES, OPPOSITE, VALUE_DEFINITIONS
from valuelocate.llm.base import Message


@dataclass(frozen=True)
class Target:
    """What one model call is asked for: a dimension, a pole (descriptions) or a split
    (prompts), a basic value, and a domain (prompts)."""

    kind: str
    dimension: str
    value: str
    pole: str | None = None
    domain: str | None = None


SYSTEM = (
    "You write items for ValueInsight, a dataset about human values built on Schwartz's theory "
    "of basic human values. You answer with valid JSON only, without any other text."
)


def _values_line(dimension: str) -> str:
    return ", ".join(
        f"{v.replace('_', '-')} ({VALUE_DEFINITIONS[v]})" for v in BASIC_VALUES[dimension]
    )


def build_messages(
    target: Target, *, per_call: int, examples: Sequence[str] = (), avoid: Sequence[str] = ()
) -> list[Message]:
    """The chat messages that ask for ``per_call`` items aimed at ``target``.

    Args:
        target: what to write.
        per_call: how many items the answer's JSON list should hold.
        examples: existing items of the same kind to show as style examples.
        avoid: existing items the model must not repeat or paraphrase.

    Returns:
        ``[system, user]`` messages.
    """
    dim = DIMENSION_NAMES[target.dimension]
    opp = DIMENSION_NAMES[OPPOSITE[target.dimension]]
    value = target.value.replace("_", "-")
    lines = [
        f"Higher-order value dimension: {dim}. Its basic values: {_values_line(target.dimension)}."
        f" It is opposed by {opp}.",
        "",
    ]
    if target.kind == "descriptions":
        if target.pole == "affirm":
            stance = (
                f"someone who holds the values of {dim} strongly, above all {value} "
                f"({VALUE_DEFINITIONS[target.value]})"
            )
        else:
            stance = (
                f"someone who rejects the values of {dim}, above all {value} "
                f"({VALUE_DEFINITIONS[target.value]}), and prefers what {opp} stands for"
            )
        lines += [
            f"Write {per_call} different value descriptions by {stance}.",
            "Each is a short first-person statement (1 or 2 sentences, 15 to 45 words) of what "
            "the person holds important and how it shows in their life. Vary the wording, the "
            "situations and the sentence shapes; do not name the value or the dimension.",
        ]
    else:
        lines += [
            f"Write {per_call} different situational prompts in which the basic value {value} "
            f"({VALUE_DEFINITIONS[target.value]}) matters, set in the life domain "
            f"'{(target.domain or '').replace('_', ' and ')}'.",
            "Each is a concrete real-world situation (2 to 4 sentences) followed by an open "
            "question asking what the reader thinks and what they would do. A prompt is "
            "neutral: it must not presuppose an answer or suggest which choice is right, and it "
            "must not use the words value, tradition, security, power, achievement, conformity "
            "or the name of the dimension, nor evaluative words such as exciting, boring or "
            "selfish. The text must end with a question mark.",
        ]
    if examples:
        lines += ["", "Examples of the style:"] + [f"- {json.dumps(e)}" for e in examples]
    if avoid:
        lines += ["", "Do not repeat or paraphrase these existing items:"]
        lines += [f"- {json.dumps(a)}" for a in avoid]
    lines += [
        "",
        f'Answer with a JSON list of {per_call} objects of the form {{"text": "..."}} and '
        "nothing else.",
    ]
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(lines)}]
