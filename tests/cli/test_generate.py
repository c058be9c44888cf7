"""`valuelocate data generate`'s command line: the choices typer lists are the schema's (the
command itself is tested end to end in tests/data/test_generate.py and tests/llm/)."""

from __future__ import annotations

from valuelocate.cli.generate import DimensionChoice, PoleChoice, SplitChoice
from valuelocate.data.schema import DIMENSIONS, POLES, SPLITS


def test_cli_choices_mirror_the_schema() -> None:
    assert tuple(d.value for d in DimensionChoice) == DIMENSIONS
    assert tuple(p.value for p in PoleChoice) == (*POLES, "both")
    assert set(SplitChoice) - {SplitChoice.auto} == {SplitChoice(s) for s in SPLITS}
