"""A judge's verdict on one answer (:class:`JudgeRating`), read from the judge's replies:
:func:`parse_rating` reads one reply, :func:`combine_samples` averages a G-Eval style sample
of them. A sample is valid when its whole text is a rating (``4``, ``4/5``, ``Rating: 4``,
``-1``, optional final period), or when it contains ``Rating: N`` / ``Score: N``; anything else
is malformed, dropped and counted, never an error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

GIBBERISH = -1


@dataclass(frozen=True)
class JudgeRating:
    """A judge's verdict on one answer.

    Attributes:
        score: mean of the valid 1..5 ratings; ``None`` when there is none.
        valid: samples that gave a 1..5 rating.
        gibberish: samples that rated the answer -1 (gibberish).
        malformed: samples that could not be parsed (dropped).
    """

    score: float | None
    valid: int = 0
    gibberish: int = 0
    malformed: int = 0


def parse_rating(text: str) -> int | None:
    """Read a judge's rating from its reply.

    Args:
        text: the judge's completion.

    Returns:
        1..5, -1 (gibberish), or ``None`` when the reply holds no well-formed rating.

    Example:
        >>> parse_rating("Rating: 4/5"), parse_rating("-1"), parse_rating("four")
        (4, -1, None)
    """
    stripped = text.strip().strip("*").strip()
    whole = _WHOLE_RATING.fullmatch(stripped)
    if whole:
        return int(whole.group(1))
    labelled = _LABELLED_RATING.search(text)
    return int(labelled.group(1)) if labelled else None


_WHOLE_RATING = re.compile(
    r"(?:(?:rating|score)\s*[:=]?\s*)?(-1|[1-5])(?:\s*/\s*5)?\s*\.?", re.IGNORECASE
)
_LABELLED_RATING = re.compile(
    r"(?:rating|score)\s*\**\s*[:=]\s*\**\s*(-1|[1-5])(?![\d.]*\d)", re.IGNORECASE
)


def combine_samples(samples: Sequence[str]) -> JudgeRating:
    """Parse ``samples`` and average the valid ratings (G-Eval style).

    Args:
        samples: the judge's completions for one answer.

    Returns:
        The :class:`JudgeRating`; malformed samples are counted and dropped.
    """
    ratings = [parse_rating(s) for s in samples]
    valid = [r for r in ratings if r is not None and r != GIBBERISH]
    return JudgeRating(
        score=sum(valid) / len(valid) if valid else None,
        valid=len(valid),
        gibberish=sum(r == GIBBERISH for r in ratings),
        malformed=sum(r is None for r in ratings),
    )


def check_lengths(prompts: Sequence[str], answers: Sequence[str]) -> None:
    """Raise ``ValueError`` unless there are as many answers as prompts."""
    if len(prompts) != len(answers):
        raise ValueError(f"{len(prompts)} prompts but {len(answers)} answers")
