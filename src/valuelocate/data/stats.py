"""Descriptive statistics of a ValueInsight dataset, and its near-duplicate rate.

Near-duplicates are measured on word 3-gram sets (shingles) with the Jaccard similarity
J(a, b) = |A & B| / |A | B|. Comparing all pairs exactly is quadratic (about 7 million pairs
per dimension), so candidates are found with MinHash and locality-sensitive hashing (LSH):
``num_perm`` hash functions, cut into ``bands`` bands; two texts become candidates when all
the rows of one band agree. With the defaults (96 functions, 32 bands of 3) a pair with
J = 0.5 is a candidate with probability 1 - (1 - 0.5**3)**32 = 0.986, and J = 0.7 with
probability above 0.9999. Candidates whose signature estimate of J is more than 0.2 (about
four standard errors) below the threshold are dropped; the rest are checked exactly, so no
reported pair is a false positive.

Usage::

    from valuelocate.data import load_prompts, summary
    from valuelocate.data.stats import near_duplicates

    report = summary()                                 # the shipped dataset
    pairs = near_duplicates([p.text for p in load_prompts()], threshold=0.5)
"""

from __future__ import annotations

import re
import statistics
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from valuelocate.data.schema import Description, QuestionnaireItem, SituationalPrompt

_WORD = re.compile(r"[a-z0-9']+")
# Candidate pairs whose MinHash estimate falls this far below the threshold are not checked.
ESTIMATE_MARGIN = 0.2
_MERSENNE = (1 << 31) - 1  # a prime; (a * h + b) with a < 2**31 and h < 2**32 fits in 64 bits


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits and apostrophes)."""
    return _WORD.findall(text.lower())


def shingles(text: str, *, n: int = 3) -> frozenset[str]:
    """The set of word ``n``-grams of a text (the whole text when it has fewer words).

    Example:
        >>> sorted(shingles("a b c d"))
        ['a b c', 'b c d']
    """
    w = words(text)
    if len(w) < n:
        return frozenset({" ".join(w)})
    return frozenset(" ".join(w[i : i + n]) for i in range(len(w) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / |a | b| (0.0 for two empty sets)."""
    shared = len(a & b)
    union = len(a) + len(b) - shared
    return shared / union if union else 0.0


def _minhash(sets: Sequence[frozenset[str]], num_perm: int, seed: int) -> np.ndarray:
    """Signatures of the sets. Returns ``[len(sets), num_perm]`` int64."""
    hashes = [np.fromiter((zlib.crc32(s.encode()) for s in st), np.int64, len(st)) for st in sets]
    flat = np.concatenate(hashes)  # [total_shingles]
    starts = np.cumsum([0] + [len(h) for h in hashes[:-1]])  # [n_sets]
    rng = np.random.default_rng(seed)
    a = rng.integers(1, _MERSENNE, size=num_perm, dtype=np.int64)
    b = rng.integers(0, _MERSENNE, size=num_perm, dtype=np.int64)
    signature = np.empty((len(sets), num_perm), dtype=np.int64)
    for k in range(num_perm):
        permuted = (a[k] * flat + b[k]) % _MERSENNE  # [total_shingles]
        signature[:, k] = np.minimum.reduceat(permuted, starts)
    return signature


def near_duplicates(
    texts: Sequence[str],
    *,
    threshold: float = 0.5,
    n: int = 3,
    num_perm: int = 96,
    bands: int = 32,
    seed: int = 0,
) -> list[tuple[int, int, float]]:
    """Pairs of texts whose word ``n``-gram Jaccard similarity is at least ``threshold``.

    Args:
        texts: the texts to compare (all pairs among them).
        threshold: the Jaccard similarity from which a pair counts as a near-duplicate.
        n: the shingle length in words.
        num_perm: MinHash functions; must be a multiple of ``bands``.
        bands: LSH bands (more bands: higher recall, more candidates to check).
        seed: the seed of the hash functions.

    Returns:
        ``(i, j, similarity)`` with ``i < j``, sorted; every pair is verified exactly, and a
        pair is missed only with the small LSH probability given in the module docstring.

    Example:
        >>> near_duplicates(["the cat sat on the mat", "the cat sat on the mat today", "no"])
        [(0, 1, 0.8)]
    """
    if num_perm % bands:
        raise ValueError(f"num_perm ({num_perm}) must be a multiple of bands ({bands})")
    if len(texts) < 2:
        return []
    sets = [shingles(t, n=n) for t in texts]
    signature = _minhash(sets, num_perm, seed)
    rows = num_perm // bands
    candidates: set[tuple[int, int]] = set()
    for band in range(bands):
        buckets: dict[bytes, list[int]] = {}
        block = np.ascontiguousarray(signature[:, band * rows : (band + 1) * rows])
        for i, key in enumerate(block):
            buckets.setdefault(key.tobytes(), []).append(i)
        for members in buckets.values():
            if len(members) > 1:
                candidates.update(
                    (members[x], members[y])
                    for x in range(len(members))
                    for y in range(x + 1, len(members))
                )
    if not candidates:
        return []
    pairs = np.array(sorted(candidates), dtype=np.int64)  # [candidates, 2]
    # Signatures estimate J with a standard error below 0.052 (96 functions); only pairs whose
    # estimate is within ESTIMATE_MARGIN (about four standard errors) of the threshold are
    # checked exactly, which skips most of the chance collisions of the bands.
    estimate = (signature[pairs[:, 0]] == signature[pairs[:, 1]]).mean(axis=1)  # [candidates]
    pairs = pairs[estimate >= threshold - ESTIMATE_MARGIN]
    found = []
    for i, j in pairs.tolist():
        sim = jaccard(sets[i], sets[j])
        if sim >= threshold:
            found.append((i, j, round(sim, 4)))
    return found


@dataclass(frozen=True)
class NearDuplicateReport:
    """Near-duplicates among texts grouped by a key (compared within each group only)."""

    threshold: float
    n: int
    pairs: int
    texts_with_duplicate: int
    texts: int

    @property
    def rate(self) -> float:
        """Share of texts that have at least one near-duplicate in their group."""
        return self.texts_with_duplicate / self.texts if self.texts else 0.0


def near_duplicate_report(
    texts: Sequence[str], groups: Sequence[str], *, threshold: float = 0.5, n: int = 3
) -> NearDuplicateReport:
    """Count near-duplicate pairs within each group, and the texts involved in any.

    Args:
        texts: the texts.
        groups: one group key per text (e.g. the dimension); pairs across groups are ignored.
        threshold: Jaccard similarity from which a pair counts.
        n: shingle length in words.

    Returns:
        The report; ``rate`` is the share of texts with at least one near-duplicate.
    """
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    pairs = 0
    involved: set[int] = set()
    for idx in by_group.values():
        for i, j, _ in near_duplicates([texts[k] for k in idx], threshold=threshold, n=n):
            pairs += 1
            involved.update((idx[i], idx[j]))
    return NearDuplicateReport(threshold, n, pairs, len(involved), len(texts))


def length_summary(texts: Sequence[str]) -> dict[str, float]:
    """Length in words: min, median, mean, max (zeros for no texts)."""
    lengths = [len(words(t)) for t in texts]
    if not lengths:
        return {"min": 0, "median": 0, "mean": 0.0, "max": 0}
    return {
        "min": min(lengths),
        "median": statistics.median(lengths),
        "mean": round(statistics.fmean(lengths), 2),
        "max": max(lengths),
    }


def _sorted_counts(items: Sequence[str]) -> dict[str, int]:
    return dict(sorted(Counter(items).items()))


def dataset_stats(
    descriptions: Sequence[Description],
    prompts: Sequence[SituationalPrompt],
    questionnaire: Sequence[QuestionnaireItem],
    *,
    threshold: float = 0.5,
    near_dups: bool = True,
) -> dict[str, Any]:
    """Counts, lengths and near-duplicate rates of the three parts of a dataset.

    Args:
        descriptions: the value descriptions.
        prompts: the situational prompts.
        questionnaire: the portrait items.
        threshold: Jaccard similarity (word 3-grams) from which two texts are near-duplicates;
            descriptions are compared within (dimension, pole), prompts within dimension.
        near_dups: compute the near-duplicate rates (about a second for 15,000 prompts).

    Returns:
        A JSON-ready dict with one entry per part: ``total``, counts ``by_*``, ``words``
        (min/median/mean/max) and, when asked, ``near_duplicates``.
    """
    desc: dict[str, Any] = {
        "total": len(descriptions),
        "by_dimension": _sorted_counts([d.dimension for d in descriptions]),
        "by_pole": _sorted_counts([d.pole for d in descriptions]),
        "by_dimension_pole": _sorted_counts([f"{d.dimension}/{d.pole}" for d in descriptions]),
        "by_value": _sorted_counts([v for d in descriptions for v in d.values]),
        "words": length_summary([d.text for d in descriptions]),
    }
    prm: dict[str, Any] = {
        "total": len(prompts),
        "by_dimension": _sorted_counts([p.dimension for p in prompts]),
        "by_split": _sorted_counts([p.split for p in prompts]),
        "by_dimension_split": _sorted_counts([f"{p.dimension}/{p.split}" for p in prompts]),
        "by_value": _sorted_counts([f"{p.dimension}/{p.value}" for p in prompts]),
        "by_domain": _sorted_counts([p.domain for p in prompts]),
        "situations": len({p.situation_id for p in prompts}),
        "words": length_summary([p.text for p in prompts]),
    }
    que: dict[str, Any] = {
        "total": len(questionnaire),
        "by_value": _sorted_counts([q.value for q in questionnaire]),
        "by_dimension": _sorted_counts([d for q in questionnaire for d in q.dimensions]),
        "words": length_summary([q.text for q in questionnaire]),
    }
    if near_dups:
        desc_groups = [f"{d.dimension}/{d.pole}" for d in descriptions]
        for part, texts, groups in (
            (desc, [d.text for d in descriptions], desc_groups),
            (prm, [p.text for p in prompts], [p.dimension for p in prompts]),
        ):
            report = near_duplicate_report(texts, groups, threshold=threshold)
            part["near_duplicates"] = {
                "method": f"word {report.n}-gram Jaccard >= {threshold}, MinHash-LSH + exact check",
                "pairs": report.pairs,
                "texts_with_duplicate": report.texts_with_duplicate,
                "rate": round(report.rate, 6),
            }
    return {"descriptions": desc, "prompts": prm, "questionnaire": que}
