"""`valuelocate.cli.options`: typer flags built from an options dataclass, and every
command's --help listing every option field of its dataclass with its help text."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import pytest
import typer
from typer.testing import CliRunner

from valuelocate.cli import app
from valuelocate.cli.options import keyword, option_parameters, options_command
from valuelocate.evaluation import EvaluateOptions
from valuelocate.optionspec import option
from valuelocate.pipeline import RunOptions
from valuelocate.steer import SteerOptions

WIDE = {"COLUMNS": "1000", "TERMINAL_WIDTH": "1000"}


def _numbers(text: str | tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",")) if isinstance(text, str) else tuple(text)


@dataclass(frozen=True)
class Toy:
    count: int = option(2, "How many.", min=1, max=5)
    mode: Literal["fast", "slow"] = option("fast", "Which way.")
    limit: float | None = option(None, "Upper limit.")
    steps: tuple[int, ...] = option((1, 2), "Steps.", parse=_numbers)
    loud: bool = option(False, "Shout.")
    name: str = option("x", "Named flag.", flag="--label")
    hidden: int = option(7, "Set by the program.", cli=False)


def test_one_parameter_per_command_line_field() -> None:
    params = {p.name: p for p in option_parameters(Toy)}
    assert list(params) == ["count", "mode", "limit", "steps", "loud", "name"]
    assert params["count"].annotation is int and params["mode"].annotation is str
    assert params["limit"].annotation == (float | None)
    assert params["steps"].annotation is str and params["steps"].default.default == "1,2"
    assert params["count"].default.min == 1 and params["count"].default.max == 5
    assert params["name"].default.param_decls == ("--label",)
    assert params["loud"].default.param_decls == ("--loud/--no-loud",)
    assert params["count"].default.help == "How many."


def _toy_app(seen: list) -> typer.Typer:  # type: ignore[type-arg]
    def body(options: Toy, *, extra: str) -> None:
        """Run the toy."""
        seen.append((options, extra))

    command = options_command(
        Toy,
        body,
        leading=[keyword("extra", str, typer.Argument(...))],
    )
    toy = typer.Typer()
    toy.command()(command)
    return toy


def test_the_command_hands_the_parsed_options_to_its_body() -> None:
    seen: list = []  # type: ignore[type-arg]
    runner = CliRunner()
    toy = _toy_app(seen)
    result = runner.invoke(toy, ["hello", "--count", "3", "--steps", "4,5", "--loud",
                                 "--label", "y", "--limit", "0.5"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen == [(Toy(count=3, steps=(4, 5), loud=True, name="y", limit=0.5), "hello")]
    assert runner.invoke(toy, ["hello"]).exit_code == 0 and seen[-1] == (Toy(), "hello")
    out_of_range = runner.invoke(toy, ["hello", "--count", "9"])
    assert out_of_range.exit_code == 2 and len(seen) == 2
    assert runner.invoke(toy, ["hello", "--hidden", "1"]).exit_code == 2, "not on the CLI"


@pytest.mark.parametrize(
    ("command", "cls"),
    [("evaluate", EvaluateOptions), ("steer", SteerOptions), ("run", RunOptions)],
)
def test_help_lists_every_option_with_its_help_text(command: str, cls: type) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True):
            continue
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        assert flag in text, (command, flag)
        assert " ".join(f.metadata["help"].split()) in text, (command, f.name)


def test_a_field_kept_off_the_command_line_can_share_a_name_with_a_command_parameter() -> None:
    """As ``run``'s ``--judge`` (repeatable, so declared by the command) and
    ``RunOptions.judge``: the command's own value reaches the body."""
    seen: list = []  # type: ignore[type-arg]

    def body(options: Toy, *, hidden: int) -> None:
        seen.append((options.hidden, hidden))

    command = options_command(Toy, body, trailing=[keyword("hidden", int, typer.Option(1))])
    toy = typer.Typer()
    toy.command()(command)
    result = CliRunner().invoke(toy, ["--hidden", "3"])
    assert result.exit_code == 0, result.output
    assert seen == [(7, 3)]
