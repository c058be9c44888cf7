"""Near-duplicate situations: the content words, the inverted index's best overlap against a
brute-force Jaccard, and the issues named by line."""

from __future__ import annotations

from valuelocate.data.situations import SituationIndex, content_words, overlap_issues
from valuelocate.data.stats import jaccard

TEXTS = [
    "A storm floods your street at night.",
    "Your neighbour asks to borrow your car for a week.",
    "The street floods after a storm.",
]


def test_content_words_drop_stopwords_short_words_and_plurals() -> None:
    assert content_words("A storm floods your street at night.") == {
        "storm",
        "flood",
        "street",
        "night",
    }


def test_the_index_finds_the_best_overlap_that_scanning_finds() -> None:
    index = SituationIndex(TEXTS[:2])
    words = content_words(TEXTS[2])
    best = max(jaccard(words, content_words(t)) for t in TEXTS[:2])
    assert index.best(words) == (best, TEXTS[0])
    # shared: storm, flood, street; in either: those, night and after
    assert best == 3 / 5


def test_overlap_issues_name_the_line_of_the_repeat() -> None:
    issues = overlap_issues("f.jsonl", list(enumerate(TEXTS, start=1)), None)
    assert [(i.path, i.line, i.field) for i in issues] == [("f.jsonl", 3, "situation")]
    assert "line 1" in issues[0].message
