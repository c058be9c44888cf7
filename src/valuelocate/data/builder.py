"""Compose ValueInsight's 15,000 situational prompts from hand-written parts, deterministically.

The parts are JSON files read by :mod:`valuelocate.data.parts`: per dimension, about forty
*situations*, each a text with ``{slot}`` fields, several fills per slot and several further
details; and two shared pools, open questions and neutral remarks. One prompt is one
situation with its slots filled, one detail, sometimes a remark, and one question.

How the builder keeps the dataset clean:

1. Every prompt built from a situation carries that situation's ``situation_id``, and whole
   situations are assigned to the ``search`` or ``test`` split (about 80/20 per dimension,
   stratified by basic value), so no two prompts that share a situation straddle the splits.
2. Within a situation, no two prompts share both their detail and their question, and slot
   fills cycle through a shuffled product, so siblings differ in several places at once.
3. Every prompt is checked against the word lists of :mod:`valuelocate.data.neutrality`
   (names of dimensions and basic values, leading phrases, and the dimension's words that
   would name or presuppose a pole); a hit is an error at build time.

Usage::

    python -m valuelocate.data.builder            # rewrite the shipped prompts.jsonl
    python -m valuelocate.data.builder --check    # exit 1 if the shipped file differs
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import random
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from valuelocate.data.neutrality import NEUTRALITY_BANNED, POLE_WORDS, neutrality_violations
from valuelocate.data.parts import (
    QUESTIONS,
    REMARKS,
    PartsError,
    Situation,
    load_situations,
    situations_from_json,
)
from valuelocate.data.schema import DIMENSIONS, DOMAINS, SituationalPrompt, record_to_dict

__all__ = [
    "DOMAINS",
    "NEUTRALITY_BANNED",
    "POLE_WORDS",
    "PartsError",
    "Situation",
    "build_prompts",
    "load_situations",
    "main",
    "neutrality_violations",
    "shipped_path",
    "situations_from_json",
    "to_jsonl",
]

PROMPTS_PER_DIMENSION = 3750
TEST_FRACTION = 0.2
DEFAULT_SEED = 0
# Share of prompts that get a neutral remark before the question.
REMARK_RATE = 0.35
# Further details (of a situation's four or more) given in each prompt.
DETAILS_PER_PROMPT = 1
# Candidates drawn per prompt for the farthest-point selection (more: more varied, slower).
POOL_PER_PROMPT = 30


def _counts(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _test_situations(situations: Sequence[Situation], counts: Sequence[int], seed: int) -> set[str]:
    """Pick whole situations for the test split: round-robin over basic values (so every value
    is tested), in a seeded order, until the test share reaches :data:`TEST_FRACTION`."""
    rng = random.Random(f"{seed}:split:{situations[0].dimension}")
    by_value: dict[str, list[int]] = {}
    for i, s in enumerate(situations):
        by_value.setdefault(s.value, []).append(i)
    queues = []
    for value in sorted(by_value):
        idx = by_value[value]
        rng.shuffle(idx)
        queues.append(idx)
    order = [i for group in itertools.zip_longest(*queues) for i in group if i is not None]
    target = TEST_FRACTION * sum(counts)
    chosen: set[str] = set()
    total = 0
    for i in order:
        if total + counts[i] / 2 > target:
            break
        chosen.add(situations[i].situation_id)
        total += counts[i]
    return chosen


def _n_words(text: str) -> int:
    return len(text.split())


def _compose(situation: Situation, n: int, seed: int) -> list[str]:
    """``n`` distinct prompt texts from one situation, as unlike one another as possible.

    A seeded pool of candidates (slot fills, detail, remark, question) is drawn; then the
    candidate whose largest estimated overlap with the texts already picked is smallest is
    picked, ``n`` times (farthest-point selection). The overlap estimate counts the words of
    the parts two candidates share (the fixed text always; a slot fill, detail, remark or
    question when equal) over the words of both, like a Jaccard similarity on words.
    """
    # NumPy's legacy RandomState: its stream is frozen across NumPy versions, so the shipped
    # file can be rebuilt byte for byte anywhere.
    digest = hashlib.sha256(f"{seed}:{situation.dimension}:{situation.key}".encode()).digest()
    rs = np.random.RandomState(int.from_bytes(digest[:4], "big"))
    names = sorted(situation.slots)
    sizes = [len(situation.slots[k]) for k in names]
    fills = [[_n_words(f) for f in situation.slots[k]] for k in names]
    n_details = len(situation.details)
    space = (
        int(np.prod(sizes))
        * math.comb(n_details, DETAILS_PER_PROMPT)
        * len(QUESTIONS)
        * (len(REMARKS) + 1)
    )
    if n > space:
        raise PartsError(f"situation {situation.key!r} cannot give {n} distinct prompts")
    pool_size = int(min(space, POOL_PER_PROMPT * n))
    radices = [*sizes, *([n_details] * DETAILS_PER_PROMPT), len(REMARKS) + 1, len(QUESTIONS)]
    draws = []
    pool = np.empty((0, len(names) + DETAILS_PER_PROMPT + 2), dtype=np.int64)
    while len(pool) < pool_size:
        rows = 2 * pool_size
        remark = np.where(
            rs.random_sample(rows) < REMARK_RATE, rs.randint(0, len(REMARKS), rows), -1
        )  # -1: no remark
        ranks = rs.random_sample((rows, n_details)).argsort(axis=1)  # a random order per row
        details = np.sort(ranks[:, :DETAILS_PER_PROMPT], axis=1)
        draws.append(
            np.column_stack(
                [
                    *(rs.randint(0, m, rows) for m in sizes),
                    details,
                    remark,
                    rs.randint(0, len(QUESTIONS), rows),
                ]
            )
        )
        stacked = np.concatenate(draws)
        key = np.zeros(len(stacked), dtype=np.int64)  # one mixed-radix number per candidate
        for column, radix in zip(stacked.T, radices, strict=True):
            key = key * radix + (column + 1 if radix == len(REMARKS) + 1 else column)
        _, first = np.unique(key, return_index=True)
        pool = stacked[np.sort(first)][:pool_size]  # distinct candidates, in drawn order
    comp = pool  # [pool, parts]
    weight = np.zeros(comp.shape, dtype=np.float64)  # [pool, parts]: words of each part
    d = len(names)
    for k, counts in enumerate(fills):
        weight[:, k] = np.take(counts, comp[:, k])
    detail_words = [_n_words(x) for x in situation.details]
    for k in range(d, d + DETAILS_PER_PROMPT):
        weight[:, k] = np.take(detail_words, comp[:, k])
    weight[:, -2] = np.take([0, *(_n_words(x) for x in REMARKS)], comp[:, -2] + 1)
    weight[:, -1] = np.take([_n_words(x) for x in QUESTIONS], comp[:, -1])
    fixed = _n_words(re.sub(r"\{\w+\}", " ", situation.text))
    length = fixed + weight.sum(axis=1)  # [pool]
    worst = np.zeros(len(pool))  # [pool]: largest overlap with any pick so far
    picked: list[int] = []
    for _ in range(n):
        i = int(np.argmin(worst))
        picked.append(i)
        shared = fixed + (weight * (comp == comp[i])).sum(axis=1)  # [pool]
        worst = np.maximum(worst, shared / (length + length[i] - shared))
        worst[i] = np.inf
    texts = []
    for i in picked:
        row = [int(x) for x in pool[i]]
        remark_index, question_index = row[-2:]
        core = situation.text.format(
            **{k: situation.slots[k][j] for k, j in zip(names, row[:d], strict=True)}
        )
        pieces = [core, *(situation.details[j] for j in row[d:-2])]
        if remark_index >= 0:
            pieces.append(REMARKS[remark_index])
        pieces.append(QUESTIONS[question_index])
        texts.append(" ".join(pieces))
    return texts


def build_prompts(
    *, seed: int = DEFAULT_SEED, per_dimension: int = PROMPTS_PER_DIMENSION
) -> list[SituationalPrompt]:
    """Build the situational prompts from the parts.

    Args:
        seed: the seed of every random choice (slot fills, details, questions, remarks,
            split, order); the same seed gives the same prompts, byte for byte.
        per_dimension: prompts per dimension (the shipped dataset: 3,750).

    Returns:
        The prompts, grouped by dimension in :data:`DIMENSIONS` order and shuffled within
        each dimension, with ids ``prompt-<dimension>-<nnnn>``.

    Raises:
        PartsError: when the parts are malformed, a prompt is not neutral, or two prompts
            are identical.

    Example:
        >>> prompts = build_prompts(seed=0)
        >>> len(prompts)
        15000
    """
    situations = load_situations()
    records: list[SituationalPrompt] = []
    seen: set[str] = set()
    for dimension in DIMENSIONS:
        mine = [s for s in situations if s.dimension == dimension]
        if not mine:
            raise PartsError(f"no situations for {dimension}")
        counts = _counts(per_dimension, len(mine))
        test = _test_situations(mine, counts, seed)
        rows: list[tuple[Situation, str]] = []
        for situation, n in zip(mine, counts, strict=True):
            rows.extend((situation, text) for text in _compose(situation, n, seed))
        random.Random(f"{seed}:order:{dimension}").shuffle(rows)
        for number, (situation, text) in enumerate(rows, start=1):
            bad = neutrality_violations(text, dimension)
            if bad:
                raise PartsError(f"situation {situation.key!r} is not neutral: {bad}: {text}")
            if text in seen:
                raise PartsError(f"duplicate prompt from {situation.key!r}: {text}")
            seen.add(text)
            records.append(
                SituationalPrompt(
                    id=f"prompt-{dimension}-{number:04d}",
                    dimension=dimension,
                    value=situation.value,
                    domain=situation.domain,
                    split="test" if situation.situation_id in test else "search",
                    situation_id=situation.situation_id,
                    text=text,
                )
            )
    return records


def to_jsonl(records: Iterable[SituationalPrompt]) -> str:
    """The JSON Lines text of records: one compact object per line, UTF-8, final newline."""
    return "".join(json.dumps(record_to_dict(r), ensure_ascii=False) + "\n" for r in records)


def shipped_path() -> Path:
    """The path of the shipped ``prompts.jsonl``."""
    return Path(__file__).with_name("files") / "prompts.jsonl"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: rebuild the shipped prompts file, or check that it is up to date.

    Args:
        argv: the arguments (``sys.argv[1:]`` when ``None``).

    Returns:
        The exit status: 0 on success, 1 when ``--check`` finds a difference.
    """
    parser = argparse.ArgumentParser(
        prog="python -m valuelocate.data.builder", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed (default 0)")
    parser.add_argument("--out", type=Path, default=None, help="output file (default: shipped)")
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if the file differs"
    )
    args = parser.parse_args(argv)
    out = args.out or shipped_path()
    text = to_jsonl(build_prompts(seed=args.seed))
    if args.check:
        same = out.is_file() and out.read_bytes() == text.encode("utf-8")
        print(f"{out}: {'up to date' if same else 'differs from the build'}")
        return 0 if same else 1
    out.write_bytes(text.encode("utf-8"))
    print(f"wrote {text.count(chr(10))} prompts to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
