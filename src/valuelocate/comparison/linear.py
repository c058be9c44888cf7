"""The linearised response: how the forced-choice reading moves per unit of an added vector.

For a small edit that adds ``v`` (one value per ``act`` neuron of some layers, at every
position) the reading of item ``i`` is close to linear in ``v``::

    dLL_i(v) ~ dLL_i(0) + g_i . v,   g_i = d dLL_i / d v at v = 0

so once the mean gradient ``g = mean_i g_i`` is known, the mean shift of *any* vector is a dot
product (METHOD.md section 8: label shuffles and random sets at the price of one read). The
read here is exact at ``v = 0``; away from it the verdict measures and reports how far the
linear read agrees with exact reads (:func:`agreement`).

Usage:

    >>> read = read_linear(lm, items, layers=range(8, 23), biases={"wp+": bias})
    >>> read.reading            # [items] the unedited reading (nats), as likelihood_reading
    >>> read.gradient @ v       # the linear mean shift of adding v ([len(layers) * neurons])
    >>> read.biased["wp+"]      # [items] the reading with ``bias`` added to the output logits

Output-logit biases (the word-priming control) do not change any hidden state, so the
reading under a bias is computed exactly from the same forward's logits: no extra pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from valuelocate.architectures import model_shape
from valuelocate.comparison.answers import answer_logits
from valuelocate.comparison.forced_choice import choice_prompts
from valuelocate.data.forced_choice import ForcedChoiceLike
from valuelocate.forward import frozen_weights, input_device, run_padded
from valuelocate.hooks import edit_neurons
from valuelocate.models import LoadedModel
from valuelocate.prompting import answer_ids, context_ids, left_pad, pad_token_id
from valuelocate.steering.mean_diff import MeanDiffEdit
from valuelocate.vocab import Site


@dataclass
class LinearRead:
    """What :func:`read_linear` measured on a list of items.

    Attributes:
        reading: ``[items]`` float64, the unedited forced-choice likelihood reading (nats).
        gradient: ``[len(layers) * neurons]`` float64, the mean over items of the reading's
            gradient with respect to a value added to each ``act`` neuron of ``layers`` at
            every position (layer-major: ``position_in_layers * neurons + neuron``).
        biased: name -> ``[items]`` float64 reading with that output-logit bias added.
        layers: the layers of ``gradient``.
    """

    reading: np.ndarray
    gradient: Tensor
    biased: dict[str, np.ndarray] = field(default_factory=dict)
    layers: tuple[int, ...] = ()
    head_gradient: Tensor | None = None

    def head(self, count: int) -> LinearRead:
        """The read of the first ``count`` items (``read_linear(..., head=count)``): their
        readings and mean gradient, from the same forward and backward passes."""
        if self.head_gradient is None or count > len(self.reading):
            raise ValueError("read_linear(..., head=count) keeps the first items' gradient")
        biased = {k: v[:count] for k, v in self.biased.items()}
        return LinearRead(self.reading[:count], self.head_gradient, biased, self.layers)

    def shift(self, vector: Tensor) -> float:
        """The linear mean shift of adding ``vector`` (same layout as ``gradient``)."""
        return float(self.gradient @ vector.double())


# Items per forward and backward of a read. A batch's autograd graph holds the activations of
# every layer from the first edited one up: on SmolLM2 a process reading 40 items peaks at
# 1.67 GB with 4 items a batch and 2.2 GB with 8 (the model alone: 1.0 GB), and 8 took 5%
# less time (2026-12-05).
READ_BATCH = 4


class _Offset:
    """An ``Edit`` adding a trainable offset to every neuron of some layers (the gradient's
    handle); at zero it leaves every value as it is."""

    site: Site = "act"

    def __init__(self, offsets: Mapping[int, Tensor]) -> None:
        self.offsets = dict(offsets)
        self._all = {
            layer: torch.arange(t.numel(), dtype=torch.long) for layer, t in self.offsets.items()
        }

    def layers(self) -> Iterable[int]:
        return self.offsets.keys()

    def edit(self, layer: int, values: Tensor) -> tuple[Tensor, Tensor]:
        return self._all[layer].to(values.device), values + self.offsets[layer].to(values.dtype)

    def reset(self) -> None:
        """Nothing to restart."""


def _rows(
    lm: LoadedModel, items: Sequence[ForcedChoiceLike], prefix: str, chat_template: bool
) -> list[tuple[list[int], list[int], list[int]]]:
    out = []
    for item in items:
        context = context_ids(lm, prefix + item.situation.strip(), chat_template=chat_template)
        out.append(
            (
                context,
                answer_ids(lm, item.affirm, chat_template=chat_template),
                answer_ids(lm, item.oppose, chat_template=chat_template),
            )
        )
    return out


def _forward(lm: LoadedModel, ids: Tensor, mask: Tensor, edit: _Offset, keep: int) -> Tensor:
    """The last ``keep`` positions' logits of a left-padded batch, with the offsets hooked."""
    with edit_neurons(lm.model, edit, scope="all"):
        logits = run_padded(lm.model, ids, mask, logits_to_keep=keep).logits
    return logits[:, -keep:]


def _run(
    lm: LoadedModel,
    rows: list[tuple[list[int], list[int], list[int]]],
    edit: _Offset,
    biases: Mapping[str, Tensor],
    readings: list[Tensor],
    biased: dict[str, list[Tensor]],
    batch_size: int,
) -> None:
    """Forward and backward each batch (each situation once, its two answers through the
    shared KV cache, as ``likelihood_reading`` reads); the offsets accumulate the summed
    gradient."""
    for begin in range(0, len(rows), batch_size):
        chunk = rows[begin : begin + batch_size]
        with edit_neurons(lm.model, edit, scope="all"):
            batch = answer_logits(lm, [c for c, _, _ in chunk], [[a, o] for _, a, o in chunk])
        means = batch.means()  # [b, 2]
        reading = means[:, 0] - means[:, 1]
        reading.sum().backward()
        readings.append(reading.detach().cpu())
        with torch.no_grad():
            for name, bias in biases.items():
                m = batch.means(bias)
                biased[name].append((m[:, 0] - m[:, 1]).cpu())


def _run_choice(
    lm: LoadedModel,
    prompts: list[list[int]],
    letters: tuple[int, int],
    edit: _Offset,
    biases: Mapping[str, Tensor],
    readings: list[Tensor],
    biased: dict[str, list[Tensor]],
    batch_size: int,
    pad: int,
) -> None:
    """The A/B reading's forward and backward: rows come in order pairs (affirm shown as A,
    then as B); the reading is the mean P(affirming letter) over the two orders."""
    pick = list(letters)
    step = max(2, batch_size - batch_size % 2)
    for begin in range(0, len(prompts), step):
        ids, mask = left_pad(prompts[begin : begin + step], pad)
        logits = _forward(lm, ids, mask, edit, 1)[:, -1]

        def affirm(last: Tensor) -> Tensor:
            p_a = torch.softmax(last[:, pick].double(), dim=-1)[:, 0]
            return (p_a[0::2] + (1.0 - p_a[1::2])) / 2.0

        reading = affirm(logits)
        reading.sum().backward()
        readings.append(reading.detach().cpu())
        with torch.no_grad():
            for name, bias in biases.items():
                biased[name].append(affirm(logits.detach() + bias.to(logits.device)).cpu())


def read_linear(
    lm: LoadedModel,
    items: Sequence[ForcedChoiceLike],
    layers: Iterable[int],
    *,
    biases: Mapping[str, Tensor] | None = None,
    prefix: str = "",
    chat_template: bool = True,
    batch_size: int = READ_BATCH,
    reading: str = "likelihood",
    head: int = 0,
) -> LinearRead:
    """The unedited reading of ``items``, its mean gradient and its readings under biases.

    ``reading="choice"`` reads the A/B choice instead (METHOD.md section 7, as
    :func:`~valuelocate.comparison.forced_choice.choice_reading`: P(affirming option) over
    both option orders), whose gradient and biased readings come the same way.

    Each item's situation runs once and its two answers through the shared KV cache (the
    computation of :func:`~valuelocate.comparison.forced_choice.likelihood_reading`), then
    one backward; only the answers' tokens are scored.

    Args:
        lm: the model.
        items: forced-choice items or decision pairs.
        layers: the layers whose ``act`` neurons the gradient is taken for.
        biases: name -> ``[vocab]`` output-logit bias (strength included) to read under too.
        prefix, chat_template: as in ``likelihood_reading``.
        batch_size: items per forward.
        head: also keep the mean gradient of the first ``head`` items
            (:meth:`LinearRead.head`; the verdict's agreement sample), read in the same passes.
    """
    chosen = tuple(sorted(int(layer) for layer in layers))
    neurons = model_shape(lm.model).neurons_per_layer
    device = input_device(lm.model)
    pad = pad_token_id(lm.tokenizer)
    offsets = {
        layer: torch.zeros(neurons, dtype=torch.float32, device=device, requires_grad=True)
        for layer in chosen
    }
    edit = _Offset(offsets)
    rows = _rows(lm, items, prefix, chat_template) if reading == "likelihood" else []
    readings: list[Tensor] = []
    biased: dict[str, list[Tensor]] = {name: [] for name in biases or {}}
    if reading == "choice":
        prompts, letters = choice_prompts(lm, items, prefix=prefix, chat_template=chat_template)
    elif reading != "likelihood":
        raise ValueError(f"Unknown reading {reading!r}; expected likelihood or choice")
    head = min(max(head, 0), len(items))
    head_gradient = None

    def run(begin: int, end: int) -> None:
        if reading == "choice":  # two prompts per item (both option orders)
            _run_choice(lm, prompts[2 * begin : 2 * end], letters, edit, biases or {},
                        readings, biased, 2 * batch_size, pad)  # fmt: skip
        else:
            _run(lm, rows[begin:end], edit, biases or {}, readings, biased, batch_size)

    with frozen_weights(lm.model):  # only the offsets need gradients
        if head:
            run(0, head)
            head_gradient = _mean_gradient(offsets, chosen, neurons, head)
        run(head, len(items))
    return LinearRead(
        reading=torch.cat(readings).numpy() if readings else np.zeros(0),
        gradient=_mean_gradient(offsets, chosen, neurons, len(items)),
        biased={k: torch.cat(v).numpy() for k, v in biased.items() if v},
        layers=chosen,
        head_gradient=head_gradient,
    )


def _mean_gradient(
    offsets: Mapping[int, Tensor], layers: Sequence[int], neurons: int, items: int
) -> Tensor:
    """The offsets' accumulated gradient so far, over ``items``, layer-major, float64."""
    parts = []
    for layer in layers:
        grad = offsets[layer].grad
        parts.append(torch.zeros(neurons) if grad is None else grad.detach().double().cpu())
    return torch.cat(parts).double() / max(items, 1)


def vector_edit(
    layers: Sequence[int],
    neurons: int,
    flat: Tensor,
    values: Tensor,
    *,
    gamma: float = 1.0,
    kind: str = "located",
) -> MeanDiffEdit:
    """The edit adding ``gamma * values`` at the flat band indices ``flat``
    (``position_in_layers * neurons + neuron``) at every position: the exact counterpart of
    a linear read of that vector."""
    flat = flat.long()
    order = torch.argsort(flat)
    flat, values = flat[order], values.double()[order]
    indices: dict[int, Tensor] = {}
    deltas: dict[int, Tensor] = {}
    for position, layer in enumerate(layers):
        chosen = (flat >= position * neurons) & (flat < (position + 1) * neurons)
        if bool(chosen.any()):
            indices[int(layer)] = flat[chosen] - position * neurons
            deltas[int(layer)] = values[chosen].clone()
    return MeanDiffEdit(indices, deltas, float(gamma), "act", kind)


def agreement(linear: float, exact: float) -> dict[str, float | None]:
    """How a linear read compares with the exact one: both, and linear / exact."""
    ratio = linear / exact if exact != 0 else None
    return {"gap": linear, "exact_gap": exact, "ratio": ratio}


__all__ = ["LinearRead", "agreement", "read_linear", "vector_edit"]
