"""`valuelocate.evaluation.conditions`: the settings, prompt baselines, test prompts and the
edits of each condition (at the run's site)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from valuelocate.data import load_descriptions, load_prompts
from valuelocate.evaluation import EvaluateOptions, steering_edits
from valuelocate.evaluation.conditions import (
    PROMPT_BASELINE_TEMPLATE,
    judge_test_prompts,
    prompt_baselines,
    settings,
)
from valuelocate.selection import NeuronSet, Selection
from valuelocate.vocab import CONDITIONS, EDIT_CONDITIONS


def _set(pole: str, indices: list[int]) -> NeuronSet:
    k = len(indices)
    ones = torch.ones(k, dtype=torch.float64)
    return NeuronSet(
        pole,  # type: ignore[arg-type]
        "delta-p",
        {},
        (1, 20),
        torch.zeros(k, dtype=torch.long),
        torch.tensor(indices),
        ones * 0.5,
        ones * 0.5,
        ones,
        ones,
    )


def _selections() -> dict[str, Selection]:
    return {
        "conservation": Selection(_set("affirm", [0, 1, 2, 3]), _set("oppose", [4, 5, 6])),
        "self_enhancement": Selection(
            _set("affirm", list(range(7, 16))), _set("oppose", [16, 17, 18])
        ),
    }


def test_random_control_falls_back_when_the_located_sets_fill_a_layer() -> None:
    warnings: list[str] = []
    make = steering_edits(_selections(), EvaluateOptions(), warnings=warnings)
    edit = make("conservation", "random_affirm", 1.0)
    assert list(edit.layers()) == [0]
    assert len(warnings) == 1 and "own neuron sets" in warnings[0]
    make("conservation", "random_oppose", 1.0)
    assert len(warnings) == 1, "one line per dimension"
    make("conservation", "affirm", 1.0)
    with pytest.raises(ValueError, match="edits no neuron"):
        make("conservation", "none", 1.0)


@pytest.mark.parametrize("site", ["act", "down_in"])
def test_every_edit_condition_is_built_at_the_options_site(site: str) -> None:
    options = replace(EvaluateOptions(), site=site)  # type: ignore[arg-type]
    make = steering_edits(_selections(), options)
    for condition in EDIT_CONDITIONS:
        assert make("conservation", condition, 1.0).site == site


def test_settings_list_every_condition_once_and_edits_per_gamma() -> None:
    keys = settings(["conservation", "self_enhancement"], [0.5, 2])
    per_dimension = len(CONDITIONS) - len(EDIT_CONDITIONS) + 2 * len(EDIT_CONDITIONS)
    assert len(keys) == 2 * per_dimension and len(set(keys)) == len(keys)
    assert keys[0] == ("conservation", "none", None)
    assert ("self_enhancement", "random_oppose", 2.0) in keys
    assert all((g is None) == (c not in EDIT_CONDITIONS) for _, c, g in keys)


def test_prompt_baselines_are_seeded_descriptions_of_each_pole() -> None:
    baselines = prompt_baselines(["conservation"], seed=4)
    assert baselines == prompt_baselines(["conservation"], seed=4)
    for pole in ("affirm", "oppose"):
        texts = {
            PROMPT_BASELINE_TEMPLATE.format(description=d.text.strip())
            for d in load_descriptions(dimension="conservation", pole=pole)
        }
        assert baselines["conservation"][pole] in texts


def test_judge_prompts_come_from_the_test_split_and_are_seeded() -> None:
    chosen = judge_test_prompts("conservation", 5, seed=1)
    assert len(chosen) == 5 and len({p.id for p in chosen}) == 5
    test_ids = {p.id for p in load_prompts(dimension="conservation", split="test")}
    assert {p.id for p in chosen} <= test_ids
    assert chosen == judge_test_prompts("conservation", 5, seed=1)
    assert len(judge_test_prompts("conservation", 10_000)) == len(test_ids)
