"""`valuelocate.vocab`: the shared names agree with each other."""

from __future__ import annotations

import pytest

from valuelocate import vocab
from valuelocate.vocab import (
    CONDITIONS,
    DIMENSION_LABELS,
    DIMENSIONS,
    EDIT_CONDITIONS,
    OPPOSITE,
    POLES,
    SCOPES,
    SITES,
    check_choice,
    dimension_label,
)


def test_the_names() -> None:
    assert POLES == ("affirm", "oppose")
    assert SITES == ("act", "down_in")
    assert SCOPES == ("prompt", "generated", "all")
    assert set(EDIT_CONDITIONS) < set(CONDITIONS) and "none" in CONDITIONS
    assert {f"random_{p}" for p in POLES} <= set(EDIT_CONDITIONS)
    assert {f"prompt_{p}" for p in POLES} <= set(CONDITIONS) - set(EDIT_CONDITIONS)
    for term in ("dimension", "pole", "layer", "neuron", "site", "scope", "gamma", "condition"):
        assert f"**{term}**" in (vocab.__doc__ or ""), term


def test_opposites_pair_the_dimensions() -> None:
    assert set(OPPOSITE) == set(DIMENSIONS) == set(DIMENSION_LABELS)
    for dimension, other in OPPOSITE.items():
        assert other != dimension and OPPOSITE[other] == dimension


def test_dimension_label() -> None:
    assert dimension_label("self_enhancement") == "Self-Enhancement"
    assert dimension_label("kindness_to_animals") == "Kindness To Animals"
    assert dimension_label(None) == "(none)"


def test_check_choice_names_the_option_and_the_choices() -> None:
    check_choice("--site", "act", SITES)
    with pytest.raises(ValueError, match=r"Unknown --site 'up'; expected one of: act, down_in"):
        check_choice("--site", "up", SITES)
