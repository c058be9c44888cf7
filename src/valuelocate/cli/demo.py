"""``valuelocate info`` and ``valuelocate demo``: look at a model's neurons in a few seconds."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

from valuelocate.architectures import activation_name, arch_for, model_shape
from valuelocate.cli.common import DEVICE_OPTION, MODEL_OPTION
from valuelocate.demo import run_demo
from valuelocate.models import load_model


def info_command(
    model: str = MODEL_OPTION,
    device: str | None = DEVICE_OPTION,
) -> None:
    """Show a model's family, layers, neurons per layer and activation function."""
    lm = load_model(model, device=device)
    spec = arch_for(lm.model)
    shape = model_shape(lm.model, spec)
    table = Table(title=f"{model} ({lm.source})", show_header=False)
    table.add_row("family", shape.family)
    table.add_row("layers", str(shape.num_layers))
    table.add_row("neurons per layer", str(shape.neurons_per_layer))
    table.add_row("neurons in all", f"{shape.total_neurons:,}")
    table.add_row("activation", activation_name(lm.model, spec))
    table.add_row("gated MLP", str(spec.gated))
    table.add_row("chat template", str(bool(getattr(lm.tokenizer, "chat_template", None))))
    table.add_row("config hash", lm.config_hash[:16])
    Console().print(table)


def demo_command(
    model: str = MODEL_OPTION,
    prompt: str = typer.Option(
        "What matters most to you in life, and why?", help="The chat prompt to answer."
    ),
    max_new_tokens: int = typer.Option(32, min=1, help="Answer length in tokens (greedy)."),
    scope: str = typer.Option("all", help="Tokens to summarise: prompt, generated or all."),
    device: str | None = DEVICE_OPTION,
) -> None:
    """Load a model, answer a prompt, and print a per-layer summary of its MLP neurons."""
    console = Console()
    start = time.perf_counter()
    with console.status(f"Loading {model} ..."):
        lm = load_model(model, device=device)
    loaded = time.perf_counter()
    shape = model_shape(lm.model)
    console.print(
        f"[bold]{model}[/]: {shape.family}, {shape.num_layers} layers x "
        f"{shape.neurons_per_layer} neurons ({activation_name(lm.model)}), "
        f"loaded in {loaded - start:.1f} s"
    )
    with console.status("Generating with neuron capture ..."):
        answer, summaries = run_demo(
            lm,
            prompt,
            max_new_tokens=max_new_tokens,
            scope=scope,  # type: ignore[arg-type]
        )
    console.print(f"[bold]Prompt:[/] {prompt}\n[bold]Answer:[/] {answer}")
    table = Table(title=f"MLP neurons per layer (scope: {scope})")
    for col in ("layer", "tokens", "mean a", "active (a>0)", "max a", "top neuron"):
        table.add_column(col, justify="right")
    for s in summaries:
        table.add_row(
            str(s.layer),
            str(s.tokens),
            f"{s.mean:+.4f}",
            f"{100 * s.active_fraction:.1f}%",
            f"{s.max_value:.2f}",
            str(s.top_neuron),
        )
    console.print(table)
    console.print(f"Done in {time.perf_counter() - start:.1f} s.")
