"""`valuelocate.evaluation.options`: parsing, validation, and what the options hand on."""

from __future__ import annotations

import json

import pytest

from valuelocate.evaluation import EvaluateOptions, parse_gammas
from valuelocate.evaluation.options import parse_dimensions
from valuelocate.generation import GenerationConfig


def test_parse_gammas() -> None:
    assert parse_gammas("0, 0.5,2") == (0.0, 0.5, 2.0)
    assert parse_gammas((1, 2)) == (1.0, 2.0)
    with pytest.raises(ValueError, match="--gammas"):
        parse_gammas("0,strong")


def test_parse_dimensions() -> None:
    assert parse_dimensions("all") is None and parse_dimensions("") is None
    assert parse_dimensions(None) is None
    assert parse_dimensions(" conservation, self_enhancement ") == (
        "conservation",
        "self_enhancement",
    )
    assert parse_dimensions(("conservation",)) == ("conservation",)


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="dimension"):
        EvaluateOptions(dimensions=("kindness",)).validate()
    with pytest.raises(ValueError, match="scope"):
        EvaluateOptions(edit_scope="answer").validate()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="--gammas"):
        EvaluateOptions(gammas=()).validate()
    with pytest.raises(ValueError, match="--judge-prompts"):
        EvaluateOptions(judge_prompts=0).validate()
    with pytest.raises(ValueError, match="--temperature"):
        EvaluateOptions(temperature=-1.0).validate()
    with pytest.raises(ValueError, match="--bootstrap"):
        EvaluateOptions(bootstrap=0).validate()
    with pytest.raises(ValueError, match="--v"):
        EvaluateOptions(v="median").validate()
    EvaluateOptions().validate()


def test_generation_settings_come_from_the_options() -> None:
    options = EvaluateOptions(
        max_new_tokens=7, temperature=0.5, repetition_penalty=1.3, batch_size=3, seed=9,
        chat_template=False, edit_scope="all",
    )  # fmt: skip
    assert options.generation() == GenerationConfig(
        max_new_tokens=7, temperature=0.5, repetition_penalty=1.3, batch_size=3, seed=9,
        chat_template=False, scope="all",
    )  # fmt: skip
    # The defaults of the judged answers are the generator's (as in `valuelocate steer`).
    defaults, generator = EvaluateOptions().generation(), GenerationConfig()
    assert defaults.max_new_tokens == generator.max_new_tokens
    assert defaults.repetition_penalty == generator.repetition_penalty


def test_to_json_records_every_field() -> None:
    options = EvaluateOptions(gammas=(0.0, 1.0), dimensions=("conservation",))
    data = json.loads(json.dumps(options.to_json()))
    assert data["gammas"] == [0.0, 1.0] and data["dimensions"] == ["conservation"]
    assert set(data) == set(EvaluateOptions.__dataclass_fields__)
    assert data["site"] == "act" and data["edit_scope"] == "generated"
