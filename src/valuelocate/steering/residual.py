"""The residual-stream reference: a steering vector added to one decoder layer's output.

Usage:

1. ``vector = residual_mean_difference(lm, target_texts, other_texts, layer=12)`` is the mean
   over texts of each text's mean residual stream (the decoder layer's output) for the target
   pole's texts, minus the same for the other pole's: what steering-vector libraries compute.
2. ``steer = ResidualSteer(vector, layer=12, gamma=4.0)``; ``with steer.apply(model): ...``
   adds ``gamma * vector`` to that layer's output at every position; the hook belongs to the
   context manager and is removed when the block ends, also when it raises.
3. ``control = steer.control(seed=0)`` is its norm-matched random-direction control: the same
   vector with its entries permuted (same norm, same distribution of entries), same gamma.

Why it is here: it answers the question a reviewer asks of neuron steering, "do neurons do as
well as a steering vector at the same cost?" (METHOD.md section 7).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from valuelocate.architectures import decoder_layers
from valuelocate.models import LoadedModel
from valuelocate.prompting import chat_inputs


def _output_tensor(output: Any) -> Tensor:
    return output[0] if isinstance(output, tuple) else output


@dataclass(frozen=True)
class ResidualSteer:
    """``h <- h + gamma * vector`` on the output of decoder layer ``layer``, every position.

    Attributes:
        vector: ``[hidden]`` float32 direction (at gamma 1).
        layer: decoder layer index (its output is the residual stream after it).
        gamma: the strength.
    """

    vector: Tensor
    layer: int
    gamma: float

    @contextmanager
    def apply(self, model: nn.Module) -> Iterator[None]:
        """Add the vector while the block runs; the hook is removed on exit."""
        layers = decoder_layers(model)
        if not 0 <= self.layer < len(layers):
            raise ValueError(f"Layer {self.layer} out of range: the model has {len(layers)}")

        def hook(_module: nn.Module, _args: Any, output: Any) -> Any:
            hidden = _output_tensor(output)
            added = hidden + (self.gamma * self.vector).to(hidden.device, hidden.dtype)
            return (added, *output[1:]) if isinstance(output, tuple) else added

        handle = layers[self.layer].register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    def reset(self) -> None:
        """Nothing to restart: the edit is deterministic."""

    def with_gamma(self, gamma: float) -> ResidualSteer:
        return replace(self, gamma=float(gamma))

    def control(self, *, seed: int = 0) -> ResidualSteer:
        """The same vector with its entries permuted (same norm), at the same gamma."""
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(self.vector.numel(), generator=generator)
        return replace(self, vector=self.vector[order].clone())


def residual_means(
    lm: LoadedModel,
    texts: Sequence[str],
    *,
    layer: int,
    chat_template: bool = True,
    batch_size: int = 16,
) -> Tensor:
    """Mean over texts of each text's mean residual stream after ``layer``, ``[hidden]``.

    Each text is read as a user message (chat template when the tokenizer has one); padding
    is never counted.
    """
    model = lm.model
    device = next(model.parameters()).device
    layers = decoder_layers(model)
    total: Tensor | None = None
    captured: list[Tensor] = []

    def hook(_module: nn.Module, _args: Any, output: Any) -> None:
        captured.append(_output_tensor(output).detach())

    handle = layers[layer].register_forward_hook(hook)
    try:
        for begin in range(0, len(texts), batch_size):
            batch = chat_inputs(
                lm.tokenizer, list(texts[begin : begin + batch_size]), chat_template=chat_template
            )
            batch = {k: v.to(device) for k, v in batch.items()}
            positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
            captured.clear()
            with torch.no_grad():
                model(**batch, position_ids=positions)
            hidden = captured[0].double()  # [b, seq, hidden]
            mask = batch["attention_mask"].to(hidden.dtype).unsqueeze(-1)  # [b, seq, 1]
            per_text = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)  # [b, hidden]
            part = per_text.sum(0).cpu()
            total = part if total is None else total + part
    finally:
        handle.remove()
    if total is None:
        raise ValueError("No text to average")
    return total / len(texts)


def residual_mean_difference(
    lm: LoadedModel,
    target_texts: Sequence[str],
    other_texts: Sequence[str],
    *,
    layer: int,
    chat_template: bool = True,
) -> Tensor:
    """The steering vector: mean residual of the target pole's texts minus the other's,
    ``[hidden]`` float32."""
    target = residual_means(lm, target_texts, layer=layer, chat_template=chat_template)
    other = residual_means(lm, other_texts, layer=layer, chat_template=chat_template)
    return (target - other).float()


@dataclass(frozen=True)
class LayerVectors:
    """``h_N <- h_N + gamma * vectors[N]`` on the output of each decoder layer ``N``, every
    position: a llama.cpp control vector as our own model applies it (``direction.N`` is added
    to the output of layer ``N``, counted from 0; :mod:`valuelocate.llamacpp`).

    Attributes:
        vectors: layer -> ``[hidden]`` vector (at gamma 1).
        gamma: the strength (llama.cpp's ``--control-vector-scaled`` factor).
    """

    vectors: Mapping[int, Tensor]
    gamma: float = 1.0

    @contextmanager
    def apply(self, model: nn.Module) -> Iterator[None]:
        """Add the vectors while the block runs; every hook is removed on exit."""
        layers = decoder_layers(model)
        bad = [n for n in self.vectors if not 0 <= n < len(layers)]
        if bad:
            raise ValueError(f"Layer {bad[0]} out of range: the model has {len(layers)}")
        handles = []

        def hook_for(vector: Tensor) -> Any:
            def hook(_module: nn.Module, _args: Any, output: Any) -> Any:
                hidden = _output_tensor(output)
                added = hidden + (self.gamma * vector).to(hidden.device, hidden.dtype)
                return (added, *output[1:]) if isinstance(output, tuple) else added

            return hook

        try:
            for layer, vector in sorted(self.vectors.items()):
                handles.append(layers[layer].register_forward_hook(hook_for(vector)))
            yield
        finally:
            for handle in handles:
                handle.remove()

    def reset(self) -> None:
        """Nothing to restart: the edit is deterministic."""

    def with_gamma(self, gamma: float) -> LayerVectors:
        return replace(self, gamma=float(gamma))
