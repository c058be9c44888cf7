"""`valuelocate steer` on the command line: both answers printed, the edited one steered at
the site the run was located at."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from conftest import needs_stories
from valuelocate.artifacts import load_neuron_sets
from valuelocate.cli import app
from valuelocate.cli.steer import steer_command
from valuelocate.generation import generate_answers
from valuelocate.steer import SteerOptions
from valuelocate.steering.dynamic import steering_edit

WIDE = {"COLUMNS": "400", "TERMINAL_WIDTH": "400"}
PROMPT = "Tom had a ball."


@needs_stories
def test_steer_cli_prints_both_answers(down_in_run, stories_lm) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(
        app,
        ["steer", PROMPT, "--neurons", str(down_in_run), "--dimension", "conservation",
         "--gamma", "3", "--max-new-tokens", "8"],
        env=WIDE,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "unedited" in result.output and "conservation -> affirm, gamma 3" in result.output
    # The answers the command printed are the generator's, edited at the run's site.
    options = SteerOptions(dimension="conservation", gamma=3.0, max_new_tokens=8)
    selection = load_neuron_sets(down_in_run)["conservation"]
    config = options.generation()

    def edited_at(site: str) -> str:
        edit = steering_edit(selection, "affirm", 3.0, site=site)  # type: ignore[arg-type]
        return generate_answers(stories_lm, [PROMPT], config=config, edit=edit)[0]

    (plain,) = generate_answers(stories_lm, [PROMPT], config=config)
    at_down_in = edited_at("down_in")
    assert at_down_in != plain, "the edit changes the answer"
    assert at_down_in != edited_at("act"), "the site matters on this run"
    assert plain in result.output and at_down_in in result.output


def test_help_lists_the_prompt_and_the_commands_own_flags() -> None:
    own = typer.Typer()
    own.command()(steer_command)
    shown = CliRunner().invoke(own, ["--help"], env=WIDE)
    assert shown.exit_code == 0, shown.output
    assert "What would you do if your neighbours asked you to join a protest?" in shown.output
    for flag in ("--neurons", "--model", "--device", "--dimension", "--gamma"):
        assert flag in shown.output
