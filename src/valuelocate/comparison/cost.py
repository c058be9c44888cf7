"""What an edit costs: the verdict's neutral-text perplexity ratio of many added vectors at
once (:class:`VectorCost`: one padded batch, one row per text and vector; its exact slope at
zero for every vector from one backward pass) and of an output-logit bias (:class:`BiasCost`:
exact, without a forward). :mod:`~valuelocate.comparison.search` finds the strengths that spend
a budget (METHOD.md section 8).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import Tensor

from valuelocate.architectures import model_shape
from valuelocate.forward import (
    frozen_weights,
    head_deferred,
    head_logits,
    input_device,
    layer_output,
    layers_from,
    output_module,
    position_ids,
)
from valuelocate.hooks import edit_neurons
from valuelocate.models import LoadedModel
from valuelocate.prompting import left_pad, pad_token_id
from valuelocate.vocab import Site

# Logits computed at once by the cost measure, in bytes (float32), and at least HEAD_ROWS
# rows: 8 rows of 40 tokens on SmolLM2's 49k vocabulary, 4 on Gemma's 262k. 64 vectors' cost
# (8 neutral texts) on Gemma took 56.5 s one row at a time, 46.1 s four at a time and 47.5 s
# with the forward's whole logits, peaking 0.24, 0.41 and 3.3 GB above the model; on SmolLM2
# 0.15 GB at 8 rows, 0.52 at 32 and 0.59 with the whole logits, at 15.4-16.1 s (2026-12-05).
HEAD_BYTES = 64 * 2**20
HEAD_ROWS = 4
# Mean NLL (nats) within which the deferred head must equal the model's own forward.
HEAD_CHECK = 1e-4


def _vocab(model: Any) -> int:
    weight = getattr(output_module(model), "weight", None)
    return int(weight.shape[0]) if isinstance(weight, Tensor) else 2**18


class _RowOffsets:
    """An ``Edit`` adding a different vector to every row of a batch, at every position."""

    site: Site = "act"

    def __init__(self, layers: Sequence[int], rows: Tensor) -> None:
        # rows: [batch, len(layers), neurons]
        self.rows = rows
        self.position = {int(layer): p for p, layer in enumerate(layers)}
        self._all = torch.arange(rows.shape[-1])

    def layers(self) -> list[int]:
        return list(self.position)

    def edit(self, layer: int, values: Tensor) -> tuple[Tensor, Tensor]:
        added = self.rows[:, self.position[layer]].to(values.device, values.dtype)
        return self._all.to(values.device), values + added[:, None, :]

    def reset(self) -> None:
        """Nothing to restart."""


class VectorCost:
    """The neutral-text perplexity ratio of many added vectors, in few padded batches.

    Rows are (text, vector) pairs, text-major with the shortest texts first, so that a batch
    holds texts of about one length and little padding (the neutral texts are short: left-
    padding all of them to the longest wasted a quarter of every forward).

    Args:
        lm: the model.
        texts: the neutral texts (raw, as the budget reads them).
        layers: the band's layers (the vectors' layout, layer-major).
        rows_per_forward: rows (texts x vectors) per forward.
        skip_layers: run only the layers from the first one a batch of vectors edits, the
            layers below replaced by their unedited output recorded once
            (:func:`~valuelocate.forward.layers_from`; equal to the full forward to float
            tolerance, tested).

    The output head runs a few rows at a time on the batch's final hidden states
    (:func:`~valuelocate.forward.head_deferred`), so a batch's logits over the vocabulary are
    never held at once, where the texts' costs computed so equal the model's own forward's
    (checked here on the unedited texts; otherwise the forward's logits are used).
    """

    def __init__(
        self,
        lm: LoadedModel,
        texts: Sequence[str],
        layers: Sequence[int],
        *,
        rows_per_forward: int = 64,
        skip_layers: bool = True,
    ) -> None:
        self.lm = lm
        self.layers = tuple(int(x) for x in layers)
        self.rows_per_forward = rows_per_forward
        self.tokens = [list(lm.tokenizer(t)["input_ids"]) for t in texts]
        self.by_length = sorted(range(len(self.tokens)), key=lambda t: len(self.tokens[t]))
        self.pad = pad_token_id(lm.tokenizer)
        self.calls = 0
        self.skip_layers = skip_layers
        # first edited layer -> per text, the unedited output of the layer below it (or None)
        self._below: dict[int, list[Tensor] | None] = {}
        self._gradient: Tensor | None = None
        self.deferred = False
        self.base = self._nll(None)  # [texts]
        try:
            gap = (self._nll(None, deferred=True) - self.base).abs().max()
        except ValueError:  # a head that cannot be deferred (it is the input embedding)
            gap = torch.tensor(math.inf)
        self.deferred = bool(gap < HEAD_CHECK)

    def _first_layers(self, vectors: Tensor) -> list[int]:
        """Per vector, the first layer it edits (0 when skipping is off or it edits none)."""
        if not self.skip_layers:
            return [0] * vectors.shape[0]
        edited = vectors.reshape(vectors.shape[0], len(self.layers), -1).abs().sum(2) > 0
        return [self.layers[int(row.nonzero()[0])] if bool(row.any()) else 0 for row in edited]

    def _skipping(
        self, first: int, texts: Sequence[int], width: int
    ) -> AbstractContextManager[Any]:
        """Layers below ``first`` replaced by their unedited output on the rows' ``texts``
        (left-padded to ``width``), recorded here once (so call it before any edit is
        hooked), where the family allows."""
        if first == 0:
            return nullcontext()
        if first not in self._below:
            ids, mask = left_pad(self.tokens, self.pad)
            device = input_device(self.lm.model)
            batch = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
            hidden = layer_output(self.lm.model, first - 1, batch)
            self._below[first] = (
                None if hidden is None
                else [hidden[t, hidden.shape[1] - len(tok):] for t, tok in enumerate(self.tokens)]
            )  # fmt: skip
        below = self._below[first]
        if below is None:
            return nullcontext()
        rows = below[0].new_zeros(len(texts), width, below[0].shape[-1])
        for r, t in enumerate(texts):
            rows[r, width - below[t].shape[0] :] = below[t]
        return layers_from(self.lm.model, first, rows)

    def _nll(
        self, vectors: Tensor | None, first: int = 0, *, deferred: bool | None = None
    ) -> Tensor:
        """Mean NLL per text (``[texts]``) or per vector and text (``[vectors, texts]``), the
        layers below ``first`` (which no vector edits) skipped; the head deferred (default:
        as checked at construction)."""
        deferred = self.deferred if deferred is None else deferred
        model = self.lm.model
        k = 1 if vectors is None else vectors.shape[0]
        pairs = [(t, j) for t in self.by_length for j in range(k)]
        out = torch.zeros(k, len(self.tokens), dtype=torch.float64)
        device = input_device(self.lm.model)
        for begin in range(0, len(pairs), self.rows_per_forward):
            chunk = pairs[begin : begin + self.rows_per_forward]
            texts = [t for t, _ in chunk]
            ids, mask = left_pad([self.tokens[t] for t in texts], self.pad)
            kwargs = dict(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                position_ids=position_ids(mask).to(device),
                use_cache=False,
            )
            recorded: AbstractContextManager[list[Tensor]] = (
                head_deferred(model) if deferred else nullcontext([])
            )
            with torch.no_grad(), recorded as seen:
                if vectors is None:
                    logits = model(**kwargs).logits
                else:
                    rows = vectors[[j for _, j in chunk]].reshape(len(chunk), len(self.layers), -1)
                    # record below ``first`` unedited, hook the edit on the real layers, then
                    # swap the layers below ``first`` out
                    skipping = self._skipping(first, texts, ids.shape[1])
                    offsets = _RowOffsets(self.layers, rows)
                    with edit_neurons(model, offsets, scope="all"), skipping:
                        logits = model(**kwargs).logits
            # NLL = logsumexp - target logit, a few rows at a time: no [rows, tokens, vocab]
            # logits (when deferred), log-softmax copy nor logsumexp temporary of the whole
            # batch (large vocabularies, e.g. Gemma's 262k, would need gigabytes for one)
            source = seen[-1] if deferred else logits
            step = max(HEAD_ROWS, HEAD_BYTES // (4 * ids.shape[1] * _vocab(model)))
            targets = ids[:, 1:, None].to(device)
            parts = []
            with torch.no_grad():
                for r in range(0, source.shape[0], step):
                    part = source[r : r + step, :-1]
                    head = (head_logits(model, part) if deferred else part).float()
                    target = head.gather(-1, targets[r : r + step]).squeeze(-1)
                    parts.append((torch.logsumexp(head, dim=-1) - target).double())
            nll = torch.cat(parts)
            keep = mask[:, 1:].to(device).double() * mask[:, :-1].to(device).double()
            means = ((nll * keep).sum(1) / keep.sum(1)).cpu()
            for r, (t, j) in enumerate(chunk):
                out[j, t] = means[r]
        return out[0] if vectors is None else out

    def slopes(self, vectors: Tensor) -> Tensor:
        """``[k]`` each vector's exact ``d log cost / d gamma`` at gamma 0 (the cost of adding
        ``gamma * v``): ``v . gradient``, where the gradient of the texts' mean NLL with respect
        to a value added to every band neuron at every position comes from one forward and
        backward per text, once (:func:`~valuelocate.comparison.search.calibrate` uses it)."""
        if self._gradient is None:
            model = self.lm.model
            device = input_device(model)
            width = model_shape(model).neurons_per_layer
            rows = torch.zeros(1, len(self.layers), width, device=device, requires_grad=True)
            offsets = _RowOffsets(self.layers, rows)
            with frozen_weights(model), edit_neurons(model, offsets, scope="all"):
                for tokens in self.tokens:
                    ids = torch.tensor([tokens], device=device)
                    logits = model(input_ids=ids).logits[0, :-1].float()
                    picked = logits.gather(-1, ids[0, 1:, None]).squeeze(-1)
                    nll = (torch.logsumexp(logits, dim=-1) - picked).double().mean()
                    (nll / len(self.tokens)).backward()
            assert rows.grad is not None
            self._gradient = rows.grad.detach().double().flatten().cpu()
        return vectors.double() @ self._gradient

    def __call__(self, vectors: Tensor) -> Tensor:
        """``[vectors]`` perplexity ratios of adding each row of ``vectors`` ``[k, D]``."""
        self.calls += 1
        firsts = self._first_layers(vectors)
        nll = torch.zeros(vectors.shape[0], len(self.tokens), dtype=torch.float64)
        for first in sorted(set(firsts)):  # vectors that start at the same layer run together
            chosen = [i for i, f in enumerate(firsts) if f == first]
            nll[chosen] = self._nll(vectors[chosen], first)
        return (nll.mean(1) - self.base.mean()).exp()


class BiasCost:
    """The neutral-text perplexity ratio of an output-logit bias, without a forward pass.

    A bias on the logits changes no hidden state, so the biased next-token distribution is
    ``log_softmax(logits + bias)`` of the unedited logits, read once here: exact, and free
    per strength (the word-priming control's calibration).
    """

    def __init__(self, lm: LoadedModel, texts: Sequence[str]) -> None:
        device = input_device(lm.model)
        self.logits: list[Tensor] = []
        self.targets: list[Tensor] = []
        with torch.no_grad():
            for text in texts:
                ids = lm.tokenizer(text, return_tensors="pt")["input_ids"].to(device)
                self.logits.append(lm.model(input_ids=ids).logits[0, :-1].float().cpu())
                self.targets.append(ids[0, 1:].cpu())
        self.base = self._nll(None)

    def _nll(self, bias: Tensor | None) -> float:
        out = []
        for logits, targets in zip(self.logits, self.targets, strict=True):
            shifted = logits if bias is None else logits + bias.to(logits.dtype)
            logp = torch.log_softmax(shifted, dim=-1)
            out.append(-logp.gather(-1, targets[:, None]).double().mean())
        return float(torch.stack(out).mean())

    def __call__(self, bias: Tensor) -> float:
        """The perplexity ratio of adding ``bias`` (``[vocab]``) to every position's logits."""
        return math.exp(self._nll(bias) - self.base)


__all__ = ["BiasCost", "VectorCost"]
