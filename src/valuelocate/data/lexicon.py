"""A model-free reader of forced-choice answers: how much of an instrument a bag of words can
read without the situation (METHOD.md section 8, "Is it values, or words?").

For each dimension and split, a lexicon is fitted on the dimension's items of all its *other*
splits (forced-choice items: search+test read dev, search+dev read test, dev+test read search;
decision pairs: each of the two splits reads the other): each word's add-1 smoothed log-odds
between the affirming and the opposing answers. An item of the evaluated split is read as the
lexicon's mean score of its affirming answer minus that of its opposing answer: right when
positive, half right when zero (no word tells), wrong when negative. The accuracy says how far
an edit that only primes pole-typical words could move the instrument: near 1 for answers
written in each pole's vocabulary, 0.5 for decision pairs, whose answers are the same sentences
on both sides.

Example:
    >>> rows = lexicon_accuracy(load_forced_choice())
    >>> rows[0].dimension, rows[0].split, 0.0 <= rows[0].accuracy <= 1.0
    ('openness_to_change', 'search', True)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from valuelocate.data.forced_choice import FORCED_CHOICE_SPLITS, ForcedChoiceItem
from valuelocate.data.schema import DIMENSIONS
from valuelocate.data.stats import words


@dataclass(frozen=True)
class LexiconRow:
    """The lexicon's accuracy on one dimension's split, fitted on its other splits.

    Attributes:
        dimension, split: the items read.
        n: how many.
        accuracy: share read right (a tie counts one half).
        read_right: ids of the items the lexicon reads right (the answers give the pole away).
        fitted_on: the splits whose items (of the same dimension) fitted the lexicon.
    """

    dimension: str
    split: str
    n: int
    accuracy: float
    read_right: tuple[str, ...]
    fitted_on: tuple[str, ...] = ()


def fit_lexicon(items: Iterable[ForcedChoiceItem]) -> dict[str, float]:
    """Each word's add-1 smoothed log-odds of appearing in an affirming vs an opposing answer
    (word counts over all answers; both vocabularies smoothed over their union)."""
    affirm: Counter[str] = Counter()
    oppose: Counter[str] = Counter()
    for item in items:
        affirm.update(words(item.affirm))
        oppose.update(words(item.oppose))
    vocabulary = set(affirm) | set(oppose)
    n_a = sum(affirm.values()) + len(vocabulary)
    n_o = sum(oppose.values()) + len(vocabulary)
    return {
        w: math.log((affirm[w] + 1) / n_a) - math.log((oppose[w] + 1) / n_o) for w in vocabulary
    }


def lexicon_score(lexicon: Mapping[str, float], item: ForcedChoiceItem) -> float:
    """Mean lexicon score of the affirming answer minus that of the opposing answer (words the
    lexicon never saw score 0)."""

    def mean(text: str) -> float:
        tokens = words(text)
        return sum(lexicon.get(w, 0.0) for w in tokens) / len(tokens) if tokens else 0.0

    return mean(item.affirm) - mean(item.oppose)


def lexicon_accuracy(items: Sequence[ForcedChoiceItem]) -> list[LexiconRow]:
    """Per dimension and split present in ``items``, the accuracy of a lexicon fitted on the
    dimension's items of all its other splits, however many; a split with nothing to fit on
    is left out. Rows come by dimension, then split (search, dev, test, then any other in the
    order first seen)."""
    present = dict.fromkeys(i.split for i in items)
    splits = [s for s in FORCED_CHOICE_SPLITS if s in present]
    splits += [s for s in present if s not in splits]
    rows = []
    for dimension in DIMENSIONS:
        own = [i for i in items if i.dimension == dimension]
        for split in splits:
            read = [i for i in own if i.split == split]
            fit = [i for i in own if i.split != split]
            if not read or not fit:
                continue
            lexicon = fit_lexicon(fit)
            scores = [(i.id, lexicon_score(lexicon, i)) for i in read]
            # Exact zeros are ties by construction (the same words on both sides); rounding
            # keeps a sum of cancelling log-odds from reading as a tiny win or loss.
            right = [rid for rid, s in scores if round(s, 12) > 0]
            ties = sum(1 for _, s in scores if round(s, 12) == 0)
            accuracy = (len(right) + 0.5 * ties) / len(read)
            fitted_on = tuple(s for s in splits if s != split and any(i.split == s for i in fit))
            rows.append(LexiconRow(dimension, split, len(read), accuracy, tuple(right), fitted_on))
    return rows
