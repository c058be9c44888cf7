"""Near-duplicate detection while generating: :class:`Deduplicator` remembers the texts seen
so far and answers whether a new one repeats one of them, exactly (after normalisation) or
nearly (word 3-gram Jaccard at or above a threshold).

Words and shingles are those of :mod:`valuelocate.data.stats`, so that what the generator lets
through also passes `valuelocate data stats`' near-duplicate check.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from valuelocate.data.schema import Record
from valuelocate.data.stats import shingles, words


def normalize_text(text: str) -> str:
    """Lower case, words only, single spaces: the key for exact duplicates."""
    return " ".join(words(text))


@dataclass
class Deduplicator:
    """Texts seen so far, with an inverted index of word 3-grams so that a near-duplicate check
    touches only the texts that share a gram with the candidate.

    Attributes:
        threshold: word 3-gram Jaccard similarity at or above which a text is a duplicate.
    """

    threshold: float = 0.5
    _exact: set[str] = field(default_factory=set)
    _sizes: list[int] = field(default_factory=list)  # number of grams of each text
    _index: dict[str, list[int]] = field(default_factory=dict)  # gram -> texts holding it

    def is_duplicate(self, text: str) -> bool:
        """Whether ``text`` matches a seen text exactly (after normalisation) or nearly."""
        if normalize_text(text) in self._exact:
            return True
        grams = shingles(text)
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(self._index.get(gram, ()))
        for other, inter in shared.items():
            union = len(grams) + self._sizes[other] - inter
            if union and inter / union >= self.threshold:
                return True
        return False

    def add(self, text: str) -> None:
        """Remember ``text``."""
        self._exact.add(normalize_text(text))
        grams = shingles(text)
        position = len(self._sizes)
        self._sizes.append(len(grams))
        index = self._index
        for gram in grams:
            if gram in index:
                index[gram].append(position)
            else:
                index[gram] = [position]

    def __len__(self) -> int:
        return len(self._sizes)


def shipped_records(kind: str) -> list[Record]:
    """The shipped dataset's records of ``kind``, or ``[]`` when the package has no loader
    (yet) or its files cannot be read."""
    try:
        from valuelocate import data as shipped

        loader = shipped.load_descriptions if kind == "descriptions" else shipped.load_prompts
        return list(loader())
    except (ImportError, AttributeError, OSError, ValueError):
        return []
