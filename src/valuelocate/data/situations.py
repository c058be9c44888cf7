"""Near-duplicate situations: the content words of a situation and its best Jaccard overlap
with the locating prompts' situations or with an earlier item's.

Evaluation must not reuse what located the neurons, and one situation written twice counts
twice in a mean. :func:`overlap_issues` reports both for a file of items (the forced-choice
items and the decision pairs); :class:`SituationIndex` finds the best overlap among many
situations by counting shared words in an inverted index, not by scanning them all.

Example:
    >>> overlap_issues("f.jsonl", [(1, "A storm floods your street."),
    ...                            (2, "A storm floods your street at night.")], None)[0].line
    2
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from valuelocate.data.schema import ValidationIssue
from valuelocate.data.stats import jaccard, words

# Situations whose content words overlap this much (Jaccard) count as near-duplicates.
NEAR_DUPLICATE_JACCARD = 0.4

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


def content_words(text: str) -> frozenset[str]:
    """The words of ``text`` that carry content: no stopwords, no words under three letters,
    a plural ``s`` dropped."""
    return frozenset(w.rstrip("s") for w in words(text) if w not in _STOPWORDS and len(w) > 2)


class SituationIndex:
    """Content-word sets of many situations with an inverted index, so that the best
    Jaccard overlap of a new situation is found by counting shared words, not by scanning."""

    def __init__(self, situations: Iterable[str]) -> None:
        self.texts: list[str] = []
        self.sizes: list[int] = []
        self.postings: dict[str, list[int]] = {}
        for text in situations:
            words = content_words(text)
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
def prompt_index(path: str) -> SituationIndex:
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
    return SituationIndex(seen)


def overlap_issues(
    name: str, situations: Sequence[tuple[int, str]], prompts_path: Path | None
) -> list[ValidationIssue]:
    """The situations, given as ``(line, text)``, that repeat a locating prompt's (when
    ``prompts_path`` is given) or an earlier one's, each on its line, field ``situation``."""
    issues: list[ValidationIssue] = []
    prompts = prompt_index(str(prompts_path)) if prompts_path is not None else None
    own: list[tuple[int, frozenset[str]]] = []
    for lineno, situation in situations:
        words = content_words(situation)
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
