"""`valuelocate.optionspec`: an option declared once carries its help, limits and parser."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from valuelocate.optionspec import option, with_overrides


def _numbers(text: str | tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",")) if isinstance(text, str) else tuple(text)


@dataclass(frozen=True)
class Options:
    seed: int = option(0, "Seed of every random choice.", min=0)
    steps: tuple[int, ...] = option((1, 2), "Steps.", parse=_numbers, text="1,2")
    hidden: str = option("x", "Set by the program.", cli=False, flag="--other")


def test_the_field_carries_what_the_command_line_needs() -> None:
    seed, steps, hidden = dataclasses.fields(Options)
    assert seed.default == 0 and seed.metadata["help"] == "Seed of every random choice."
    assert seed.metadata["min"] == 0 and seed.metadata["max"] is None
    assert steps.metadata["parse"] is _numbers and steps.metadata["text"] == "1,2"
    assert hidden.metadata["cli"] is False and hidden.metadata["flag"] == "--other"


def test_with_overrides_parses_and_replaces() -> None:
    base = Options()
    changed = with_overrides(base, {"seed": 3, "steps": "4,5"})
    assert changed == Options(seed=3, steps=(4, 5))
    assert base == Options(), "the original is left as it was"
    assert with_overrides(base, {}) == base


def test_unknown_option_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"Unknown option 'sead' for Options; .*seed, steps"):
        with_overrides(Options(), {"sead": 1})
