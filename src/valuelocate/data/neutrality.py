"""The word lists that keep situational prompts neutral, and the check against them.

A prompt must not name a dimension or a basic value, lead the respondent toward an answer, or
use a word that names or presupposes one of its dimension's poles. The builder refuses to ship
a prompt that fails the check, and the generator rejects such items.
"""

from __future__ import annotations

import functools
import re

# Never in any prompt: the names of the dimensions and of the basic values (with their common
# inflections), and phrasings that lead the respondent toward an answer. Patterns are regular
# expressions matched case-insensitively at word boundaries.
NEUTRALITY_BANNED: tuple[str, ...] = (
    r"openness",
    r"open to change",
    r"conservation",
    r"conservatives?",
    r"conservatism",
    r"self[- ]transcend\w*",
    r"transcend\w*",
    r"self[- ]enhanc\w*",
    r"self[- ]direct\w*",
    r"stimulation",
    r"hedonis\w*",
    r"security",
    r"secure",
    r"insecure",
    r"conformity",
    r"conform\w*",
    r"traditions?",
    r"traditional\w*",
    r"universalis\w*",
    r"benevolen\w*",
    r"power\w*",
    r"achievements?",
    r"values?",
    r"should(?:n't| not)? you",
    r"don't you think",
    r"the right thing",
    r"the responsible thing",
    r"selfish\w*",
)

# Words that would name a pole of the dimension, or presuppose one, in a situation. They are
# evaluative: "exciting", "boring", "reckless" say what the respondent ought to feel. Topic
# words that a situation needs ("custom", "holiday", "savings", "donation") are allowed, because
# a neutral prompt must still make the dimension's values relevant.
POLE_WORDS: dict[str, tuple[str, ...]] = {
    "openness_to_change": (
        r"adventurous",
        r"daring",
        r"reckless\w*",
        r"rebel\w*",
        r"exciting",
        r"excitement",
        r"thrill\w*",
        r"boring",
        r"bored",
        r"dull",
        r"stale",
        r"in a rut",
        r"old-fashioned",
        r"outdated",
        r"open-minded\w*",
        r"closed-minded\w*",
        r"narrow-minded\w*",
        r"unconventional",
        r"free spirit",
        r"spontaneous\w*",
        r"fun",
        r"pleasure\w*",
        r"indulg\w*",
        r"treat yourself",
    ),
    "conservation": (
        r"old-fashioned",
        r"outdated",
        r"backward",
        r"obedien\w*",
        r"obey\w*",
        r"disobe\w*",
        r"law-abiding",
        r"rebel\w*",
        r"reckless\w*",
        r"irresponsib\w*",
        r"disrespect\w*",
        r"respectable",
        r"proper",
        r"improper",
        r"play it safe",
        r"safe option",
        r"safe choice",
        r"risky",
        r"stability",
        r"order and",
        r"rule-breaker",
    ),
    "self_transcendence": (
        r"selfless\w*",
        r"altruis\w*",
        r"generous",
        r"generosity",
        r"greed\w*",
        r"compassion\w*",
        r"kind-hearted",
        r"heartless",
        r"callous",
        r"caring",
        r"charitable",
        r"fairness",
        r"unfair\w*",
        r"justice",
        r"injustice",
        r"moral\w*",
        r"immoral\w*",
        r"ethical\w*",
        r"unethical\w*",
        r"good cause",
    ),
    "self_enhancement": (
        r"ambitio\w*",
        r"greed\w*",
        r"prestig\w*",
        r"status symbol",
        r"success\w*",
        r"unsuccessful",
        r"winners?",
        r"losers?",
        r"impressive",
        r"glory",
        r"brag\w*",
        r"show(?:-| )off",
        r"materialis\w*",
        r"luxur\w*",
        r"indulg\w*",
        r"treat yourself",
        r"fun",
        r"pleasure\w*",
    ),
}


@functools.cache
def _pattern(dimension: str) -> re.Pattern[str]:
    words = (*NEUTRALITY_BANNED, *POLE_WORDS[dimension])
    return re.compile(r"\b(?:" + "|".join(words) + r")\b", re.IGNORECASE)


def neutrality_violations(text: str, dimension: str) -> list[str]:
    """The banned words or phrases that occur in a prompt of ``dimension``.

    Args:
        text: the prompt.
        dimension: its dimension; its :data:`POLE_WORDS` apply beside the shared list.

    Returns:
        The matched strings, in order of appearance (empty when the prompt is neutral).

    Example:
        >>> neutrality_violations("Is it exciting?", "openness_to_change")
        ['exciting']
    """
    return [m.group(0) for m in _pattern(dimension).finditer(text)]
