"""The demo: look at a model's neurons in a few seconds (``valuelocate demo``).

The demo loads a model, answers one chat prompt, captures every MLP neuron over the prompt
and the answer, and prints a per-layer summary. It is the smallest end-to-end use of the
hooks and a quick check that a new model family works.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from valuelocate.architectures import ArchSpec
from valuelocate.forward import input_device
from valuelocate.generation import GenerationConfig, generate_ids
from valuelocate.hooks import trace_neurons
from valuelocate.models import LoadedModel
from valuelocate.prompting import chat_inputs
from valuelocate.vocab import Scope


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
    device = input_device(model)
    batch = {k: v.to(device) for k, v in chat_inputs(lm.tokenizer, [prompt]).items()}
    acc = _SummaryAccumulator()
    config = GenerationConfig(max_new_tokens=max_new_tokens, repetition_penalty=1.0)
    with trace_neurons(model, acc, scope=scope, arch=arch):
        out = generate_ids(model, batch, config=config, pad_token_id=lm.tokenizer.pad_token_id)
    answer = lm.tokenizer.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    return answer.strip(), acc.summaries()
