"""``valuelocate steer``: answer a prompt with and without a steering edit, side by side."""

from __future__ import annotations

from pathlib import Path

import torch
import typer
from rich.console import Console
from rich.table import Table

from valuelocate.architectures import model_shape
from valuelocate.artifacts import load_neuron_sets, read_json
from valuelocate.edits import V_SOURCES, steering_edit
from valuelocate.hooks import SCOPES, Edit, Scope, edit_neurons
from valuelocate.models import LoadedModel, load_model
from valuelocate.prompting import chat_inputs, stop_token_ids


def generate_answers(
    lm: LoadedModel,
    prompts: list[str],
    *,
    edit: Edit | None = None,
    scope: Scope = "generated",
    max_new_tokens: int = 64,
    chat_template: bool = True,
) -> list[str]:
    """Greedy answers to ``prompts`` (one left-padded batch), under ``edit`` if given."""
    model = lm.model
    device = next(model.parameters()).device
    batch = {
        k: v.to(device)
        for k, v in chat_inputs(lm.tokenizer, prompts, chat_template=chat_template).items()
    }
    stops = stop_token_ids(model, lm.tokenizer)

    def run() -> torch.Tensor:
        with torch.no_grad():
            return model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=lm.tokenizer.pad_token_id,
            )

    if edit is None:
        out = run()
    else:
        with edit_neurons(model, edit, scope=scope, stop_token_ids=stops):
            out = run()
    width = batch["input_ids"].shape[1]
    return [lm.tokenizer.decode(row[width:], skip_special_tokens=True).strip() for row in out]


def steer_command(
    prompt: str = typer.Argument(
        "What would you do if your neighbours asked you to join a protest?",
        help="The prompt to answer.",
    ),
    neurons: Path = typer.Option(..., "--neurons", "-n", help="Run directory of `locate`."),
    dimension: str = typer.Option(..., "--dimension", "-d", help="Dimension to steer."),
    pole: str = typer.Option("affirm", help="Direction: affirm or oppose."),
    gamma: float = typer.Option(1.0, help="Strength of the edit (the study swept 0.1-2.0)."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Model (default: the one the neurons were located on)."
    ),
    v: str = typer.Option("q95", help="Per-neuron value v: q95 (default) or p."),
    fraction: float = typer.Option(0.9, help="Share of neurons pushed at each call (redrawn)."),
    clamp: bool = typer.Option(
        True, "--clamp/--no-clamp", help="Clamp the other pole's neurons to min(a, 0)."
    ),
    scope: str = typer.Option("generated", help="Tokens edited: generated, prompt or all."),
    seed: int = typer.Option(0, help="Seed of the random draws."),
    max_new_tokens: int = typer.Option(64, min=1, help="Answer length (greedy)."),
    device: str | None = typer.Option(None, help="cpu, cuda, ..."),
) -> None:
    """Print the unedited and the edited answer to PROMPT side by side."""
    if v not in V_SOURCES:
        raise ValueError(f"Unknown --v {v!r}; expected one of: {', '.join(V_SOURCES)}")
    if scope not in SCOPES:
        raise ValueError(f"Unknown --scope {scope!r}; expected one of: {', '.join(SCOPES)}")
    manifest = read_json(neurons / "manifest.json")
    lm = load_model(model or manifest["model"]["id"], device=device)
    sets = load_neuron_sets(neurons, expect=model_shape(lm.model))
    if dimension not in sets:
        raise ValueError(
            f"Dimension {dimension!r} was not located in {neurons}; it has: {', '.join(sets)}"
        )
    site = manifest.get("options", {}).get("site", "act")
    edit = steering_edit(
        sets[dimension], pole, gamma, v=v, fraction=fraction, seed=seed, clamp=clamp, site=site
    )  # type: ignore[arg-type]
    console = Console()
    with console.status("Generating ..."):
        (plain,) = generate_answers(lm, [prompt], max_new_tokens=max_new_tokens)
        (edited,) = generate_answers(
            lm, [prompt], edit=edit, scope=scope, max_new_tokens=max_new_tokens
        )  # type: ignore[arg-type]
    table = Table(title=prompt, show_lines=True, expand=True)
    table.add_column("unedited", ratio=1)
    table.add_column(f"{dimension} -> {pole}, gamma {gamma:g}", ratio=1)
    table.add_row(plain, edited)
    console.print(table)
