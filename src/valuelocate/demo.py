"""``valuelocate info`` and ``valuelocate demo``: look at a model's neurons in a few seconds.

The demo loads a model, answers one chat prompt, captures every MLP neuron over the prompt
and the answer, and prints a per-layer summary. It is the smallest end-to-end use of the
hooks and a quick check that a new model family works.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import typer
from rich.console import Console
from rich.table import Table
from torch import nn

from valuelocate.architectures import ArchSpec, activation_name, arch_for, model_shape
from valuelocate.hooks import Scope, trace_neurons
from valuelocate.models import DEFAULT_MODEL, LoadedModel, load_model
from valuelocate.prompting import chat_inputs

MODEL_OPTION = typer.Option(
    DEFAULT_MODEL,
    "--model",
    "-m",
    help="'default' (embedded SmolLM2-135M-Instruct, offline), a local folder, or a hub id.",
)
DEVICE_OPTION = typer.Option(None, help="Device for the model (cpu, cuda, cuda:1); auto if unset.")


@dataclass
class LayerSummary:
    """Per-layer statistics of one demo run (over in-scope tokens)."""

    layer: int
    tokens: int
    mean: float
    active_fraction: float  # share of (token, neuron) pairs with a > 0
    max_value: float
    top_neuron: int  # neuron with the largest mean activation


class _SummaryAccumulator:
    """Sums per layer, so the demo needs no more memory for a long answer."""

    def __init__(self) -> None:
        self.tokens: dict[int, int] = {}
        self.total: dict[int, torch.Tensor] = {}
        self.active: dict[int, int] = {}
        self.max: dict[int, float] = {}

    def __call__(self, layer: int, values: torch.Tensor, mask: torch.Tensor) -> None:
        rows = values[mask].double()  # [tokens, neurons]
        if rows.numel() == 0:
            return
        self.tokens[layer] = self.tokens.get(layer, 0) + rows.shape[0]
        self.total[layer] = self.total.get(layer, 0) + rows.sum(dim=0)
        self.active[layer] = self.active.get(layer, 0) + int((rows > 0).sum())
        self.max[layer] = max(self.max.get(layer, float("-inf")), float(rows.max()))

    def summaries(self) -> list[LayerSummary]:
        out = []
        for layer in sorted(self.tokens):
            n = self.tokens[layer]
            mean = self.total[layer] / n
            out.append(
                LayerSummary(
                    layer=layer,
                    tokens=n,
                    mean=float(mean.mean()),
                    active_fraction=self.active[layer] / (n * mean.numel()),
                    max_value=self.max[layer],
                    top_neuron=int(mean.argmax()),
                )
            )
        return out


def run_demo(
    lm: LoadedModel,
    prompt: str,
    *,
    max_new_tokens: int = 32,
    scope: Scope = "all",
    arch: ArchSpec | None = None,
) -> tuple[str, list[LayerSummary]]:
    """Answer ``prompt`` greedily while summarising every layer's neurons.

    Returns:
        The answer text and one :class:`LayerSummary` per layer.
    """
    model: nn.Module = lm.model
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in chat_inputs(lm.tokenizer, [prompt]).items()}
    acc = _SummaryAccumulator()
    with torch.no_grad(), trace_neurons(model, acc, scope=scope, arch=arch):
        out = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=lm.tokenizer.pad_token_id,
        )
    answer = lm.tokenizer.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    return answer.strip(), acc.summaries()


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
