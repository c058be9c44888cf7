"""`CompareOptions` and the standard cells: the band and layer scale with depth, every bad option
is refused with its flag named, and the command line's text parses into the fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from valuelocate.comparison.options import (
    CELL_NAMES,
    GENERATED_CELLS,
    STUDY_CELL,
    CompareOptions,
    default_band,
    default_layer,
    standard_cells,
)
from valuelocate.optionspec import with_overrides


def test_the_default_band_and_layer_are_8_22_and_15_on_30_layers() -> None:
    assert default_band(30) == (8, 22) and default_layer(30) == 15
    first, last = default_band(5)
    assert 0 <= first <= last <= 4 and 0 <= default_layer(5) <= 4
    cells = {c.name: c for c in standard_cells(30)}
    assert cells["desc+band+mean-diff"].band == tuple(range(8, 23))
    assert cells["desc+residual"].layer == 15


def test_cell_names_are_unique_and_fit_a_comma_list() -> None:
    assert len(set(CELL_NAMES)) == len(CELL_NAMES)
    assert not any(ch in name for name in CELL_NAMES for ch in " ,()")
    assert STUDY_CELL in GENERATED_CELLS
    # Without a locate run the generated cells are not offered by "all".
    assert not {c.name for c in CompareOptions().cells_for(30)} & GENERATED_CELLS


def test_command_line_text_parses_into_the_fields() -> None:
    options = with_overrides(
        CompareOptions(),
        {
            "cells": "prompt-baseline, desc+residual",
            "dimensions": "all",
            "layer": "3",
            "band": "1-2",
        },
    )
    options.validate()
    assert options.cells == ("prompt-baseline", "desc+residual") and options.dimensions is None
    cells = options.cells_for(5)
    assert [c.name for c in cells] == ["prompt-baseline", "desc+residual"]
    assert cells[1].layer == 3
    assert with_overrides(CompareOptions(), {"layer": "auto", "cells": "all"}).layer is None
    assert CompareOptions(budget="kl=0.05").budget_spec().kind == "kl"


@pytest.mark.parametrize(
    ("overrides", "flag"),
    [
        ({"dimensions": "conservation,kindness"}, "--dimensions"),
        ({"cells": "nope"}, "--cells"),
        ({"cells": ","}, "--cells"),
        ({"cells": STUDY_CELL}, "--run-dir"),
        ({"budget": "ppl=1.0"}, "--budget"),
        ({"budget": "kl=-1"}, "--budget"),
        ({"band": "eight"}, "--band"),
        ({"layer": "middle"}, "--layer"),
        ({"start_gamma": 0.0}, "--start-gamma"),
        ({"run_dir": "/nonexistent"}, "--run-dir"),
    ],
)
def test_each_bad_option_is_named(overrides: dict[str, object], flag: str) -> None:
    with pytest.raises(ValueError, match=flag):
        with_overrides(CompareOptions(), overrides).validate()


def test_layers_are_checked_against_the_model() -> None:
    with pytest.raises(ValueError, match="--band 8-22 is outside the model's layers 0-4"):
        CompareOptions(band="8-22").cells_for(5)
    with pytest.raises(ValueError, match="--layer"):
        CompareOptions(layer=5).cells_for(5)
    assert CompareOptions(band="8-22", layer=29).cells_for(30)


def test_a_locate_run_must_hold_the_act_statistics(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "stats").mkdir(parents=True)
    options = CompareOptions(dimensions=("conservation",), run_dir=str(run), cells=(STUDY_CELL,))
    with pytest.raises(ValueError, match="no stats/conservation.affirm"):
        options.validate()
    for pole in ("affirm", "oppose"):
        (run / "stats" / f"conservation.{pole}.safetensors").write_bytes(b"")
    options.validate()
    assert [c.run_dir for c in options.cells_for(30)] == [str(run)]
    (run / "manifest.json").write_text(json.dumps({"options": {"site": "down_in"}}))
    with pytest.raises(ValueError, match="--run-dir .* site 'down_in'"):
        options.validate()


def test_the_word_priming_null_runs_only_when_named() -> None:
    from valuelocate.comparison.options import CONTROL_CELLS, WORD_PRIMING_CELL

    assert WORD_PRIMING_CELL in CELL_NAMES and WORD_PRIMING_CELL in CONTROL_CELLS
    # Not among the candidates: "all" and the benchmark's priority list leave it out.
    assert WORD_PRIMING_CELL not in {c.name for c in standard_cells(30, run_dir="-")}
    assert WORD_PRIMING_CELL not in {c.name for c in CompareOptions().cells_for(30)}
    named = CompareOptions(cells=("desc+residual", WORD_PRIMING_CELL))
    named.validate()
    cells = named.cells_for(30)
    assert [c.name for c in cells] == ["desc+residual", WORD_PRIMING_CELL]
    assert (cells[1].contrast, cells[1].selection, cells[1].rule) == ("pairs", "none",
                                                                      "word-priming")  # fmt: skip
