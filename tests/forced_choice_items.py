"""A hand-made forced-choice item for tests (the fields the readers and contrast sources use),
shared by the forced-choice, contrast and compare tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    id: str
    dimension: str
    situation: str
    affirm: str
    oppose: str
    split: str = "search"
