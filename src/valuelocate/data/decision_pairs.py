"""Decision pairs: forced-choice items whose two answers differ only in the decision
(METHOD.md section 8).

The situation names one action and asks whether you would take it; the answers are one short
sentence that differs only in the decision ("I would accept." / "I would decline.", "I would
go." / "I would stay." ...). Across a dimension's split, each wording stands for the affirming
pole as often as for the opposing one, so no reader of the answers alone can tell the poles
apart: a bag-of-words lexicon fitted on the other split must read 0.40-0.60 of them right
(:mod:`valuelocate.data.lexicon`). Only a model that reads the situation, and prefers the
pole's action in it, moves; an edit that primes pole-typical words cannot.

The shipped file (``files/decision_pairs.jsonl``) has the forced-choice items' schema, ids
``dp-otc-001`` ..., 16 ``search`` and 40 ``test`` items per dimension. It was written before
any result on it was read; its ``test`` split evaluates only (never locates, chooses or
calibrates). Load it with :func:`load_decision_pairs`; the readers of
:mod:`valuelocate.comparison.forced_choice` read it unchanged.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from valuelocate.data.forced_choice import (
    PROMPTS_FILE,
    ForcedChoiceItem,
    parse_item,
    select_items,
    validate_forced_choice,
)
from valuelocate.data.lexicon import lexicon_accuracy
from valuelocate.data.schema import SPLITS, ValidationIssue, jsonl_lines
from valuelocate.data.stats import words

DECISION_PAIRS_FILE = Path(__file__).with_name("files") / "decision_pairs.jsonl"
# The decision pairs keep two splits (the forced-choice items have three, with ``dev``).
DECISION_PAIR_SPLITS: tuple[str, ...] = SPLITS
# The two answers may differ in one run of at most this many words (the decision).
MAX_DECISION_WORDS = 3
# A bag-of-words lexicon fitted on the other split must read a split at chance.
LEXICON_BOUNDS = (0.40, 0.60)


def decision_span(affirm: str, oppose: str) -> int:
    """How many words the longer answer has outside the two answers' common start and end:
    the size of the decision (``I would say yes.`` / ``I would say no.`` -> 1)."""
    a, b = words(affirm), words(oppose)
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    return max(len(a), len(b)) - start - end


def _pair_issues(name: str, items: list[tuple[int, ForcedChoiceItem]]) -> list[ValidationIssue]:
    issues = []
    for lineno, item in items:
        span = decision_span(item.affirm, item.oppose)
        if span == 0 or span > MAX_DECISION_WORDS:
            msg = (
                f"the answers must differ only in the decision (1-{MAX_DECISION_WORDS} words), "
                f"here in {span}"
            )
            issues.append(ValidationIssue(name, lineno, "oppose", msg))
    # Each wording stands for the affirming pole as often as for the opposing one.
    sides: Counter[tuple[str, str, str]] = Counter()
    for _, item in items:
        sides[(item.dimension, item.split, item.affirm)] += 1
        sides[(item.dimension, item.split, item.oppose)] -= 1
    for (dimension, split, text), balance in sorted(sides.items()):
        if balance:
            msg = (
                f"{dimension}, {split}: {text!r} is the affirming answer {balance:+d} times more "
                "often than the opposing one (each wording must stand for both poles equally)"
            )
            issues.append(ValidationIssue(name, 0, "affirm", msg))
    return issues


def _lexicon_issues(name: str, items: list[ForcedChoiceItem]) -> list[ValidationIssue]:
    low, high = LEXICON_BOUNDS
    issues = []
    for row in lexicon_accuracy(items):
        if not low <= row.accuracy <= high:
            msg = (
                f"{row.dimension}, {row.split}: a bag-of-words lexicon fitted on "
                f"{'+'.join(row.fitted_on)} reads {row.accuracy:.2f} of the items right (must "
                f"be {low:.2f}-{high:.2f}); the answers give the pole away in: "
                f"{', '.join(row.read_right)}"
            )
            issues.append(ValidationIssue(name, 0, "affirm", msg))
    return issues


def validate_decision_pairs(
    path: str | Path | None = None, *, prompts_path: str | Path | None = PROMPTS_FILE
) -> list[ValidationIssue]:
    """Every defect of a decision-pair file: the forced-choice checks
    (:func:`~valuelocate.data.forced_choice.validate_forced_choice`, without its split
    balance), answers that differ in
    more than the decision, a wording that stands for one pole more often than the other, and
    a lexicon that reads a dimension's split beyond chance (naming the items it reads)."""
    path = Path(path) if path is not None else DECISION_PAIRS_FILE
    # The splits are unequal on purpose (16 search, 40 test): no split-balance check.
    issues = validate_forced_choice(
        path, prompts_path=prompts_path, check_balance=False, splits=DECISION_PAIR_SPLITS
    )
    if not path.is_file():
        return issues
    items: list[tuple[int, ForcedChoiceItem]] = []
    for lineno, obj in jsonl_lines(str(path), path.read_bytes(), []):
        item, errors = parse_item(obj, splits=DECISION_PAIR_SPLITS)
        if item is not None and not errors:
            items.append((lineno, item))
    issues.extend(_pair_issues(str(path), items))
    issues.extend(_lexicon_issues(str(path), [i for _, i in items]))
    return issues


def load_decision_pairs(
    *, dimension: str | None = None, split: str | None = None, path: str | Path | None = None
) -> list[ForcedChoiceItem]:
    """The decision pairs, optionally of one dimension and split, ``search`` or ``test`` (the
    same checks and errors as :func:`~valuelocate.data.forced_choice.load_forced_choice`).

    Example:
        >>> len(load_decision_pairs(dimension="conservation", split="test"))
        40
    """
    return select_items(
        Path(path) if path is not None else DECISION_PAIRS_FILE,
        dimension=dimension,
        split=split,
        splits=DECISION_PAIR_SPLITS,
    )
