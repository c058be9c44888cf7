"""`valuelocate.steer`: the unedited and edited answers of one prompt, edited at the run's
site, and the same text that `evaluate` judged for that prompt, edit, gamma and seed."""

from __future__ import annotations

import json

import pytest

from conftest import EVALUATED_GAMMA, EVALUATED_TOKENS, needs_stories
from valuelocate.evaluation.conditions import judge_test_prompts
from valuelocate.generation import GenerationConfig
from valuelocate.steer import SteerOptions, run_steering_edit, steer_prompt

pytestmark = needs_stories


def test_steer_and_evaluate_give_the_same_answers(evaluated, stories_lm) -> None:  # type: ignore[no-untyped-def]
    run_dir, _ = evaluated
    lines = (run_dir / "evaluation" / "answers.jsonl").read_text().splitlines()
    judged = {(a["prompt_id"], a["condition"]): a["answer"] for a in map(json.loads, lines)}
    prompts = judge_test_prompts("conservation", 3, seed=0)
    compared = 0
    for pole in ("affirm", "oppose"):
        for prompt in prompts:
            plain, edited = steer_prompt(
                run_dir,
                prompt.text,
                lm=stories_lm,
                dimension="conservation",
                pole=pole,
                gamma=EVALUATED_GAMMA,
                max_new_tokens=EVALUATED_TOKENS,
            )
            assert plain == judged[(prompt.id, "none")]
            assert edited == judged[(prompt.id, pole)]
            compared += plain != edited
    assert compared > 0, "the edit changes some answer"


def test_the_edit_is_built_at_the_site_in_the_manifest(down_in_run, stories_lm) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((down_in_run / "manifest.json").read_text())
    assert manifest["options"]["site"] == "down_in"
    options = SteerOptions(gamma=2.0)
    assert run_steering_edit(down_in_run, stories_lm, options).site == "down_in"
    assert run_steering_edit(down_in_run, stories_lm, options, site="act").site == "act"
    with pytest.raises(ValueError, match="was not located"):
        run_steering_edit(down_in_run, stories_lm, SteerOptions(dimension="self_enhancement"))


def test_options_are_validated_and_hand_on_the_generator_settings() -> None:
    with pytest.raises(ValueError, match="--pole"):
        SteerOptions(pole="up").validate()
    with pytest.raises(ValueError, match="--dimension"):
        SteerOptions(dimension="power").validate()
    with pytest.raises(ValueError, match="--v"):
        SteerOptions(v="max").validate()
    options = SteerOptions(seed=4, max_new_tokens=9, temperature=0.7, scope="all")
    assert options.generation() == GenerationConfig(
        max_new_tokens=9, temperature=0.7, batch_size=1, seed=4, scope="all"
    )
    # Unless told otherwise, steer answers as evaluate does.
    default = GenerationConfig()
    assert SteerOptions().generation().max_new_tokens == default.max_new_tokens
    assert SteerOptions().generation().repetition_penalty == default.repetition_penalty
