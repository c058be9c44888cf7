"""The word-priming control: a bias on the output logits toward the words of one pole's answers.

An edit built from answer texts can raise the probability of pole-typical words without any
change in what the model prefers. This control does only that, so that a value edit can be
asked to beat it (METHOD.md section 8, "Is it values, or words?").

Usage:

1. ``bias = unigram_log_odds(tokenizer, affirm_answers, oppose_answers, vocab_size=V)``: per
   token id, the add-alpha smoothed unigram log-odds of the token between the two poles'
   answers (search split only), ``[V]`` float32.
2. ``prime = LogitBias(bias, gamma=2.0)``; ``with prime.apply(model): ...`` adds
   ``gamma * sign * bias`` to the output logits at every position (``sign`` +1 toward affirm,
   -1 toward oppose); the hook belongs to the context manager and is removed when the block
   ends, also when it raises. At gamma 0 it installs nothing: the logits are the model's own.
3. ``control = prime.control(seed=0)`` is its matched control: the same bias permuted over the
   vocabulary (same values, same norm, no pole information), at the same gamma.

It is self-applying (:class:`~valuelocate.steering.intervention.SelfApplying`) and has
``with_gamma``, so :func:`~valuelocate.steering.budget.find_gamma` and the grid calibrate it
to the cost budget like any other edit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from valuelocate.forward import output_module


def unigram_log_odds(
    tokenizer: Any,
    affirm_texts: Sequence[str],
    oppose_texts: Sequence[str],
    *,
    alpha: float = 1.0,
    vocab_size: int | None = None,
) -> Tensor:
    """Per token id, ``log((c_a+alpha)/(N_a+alpha*V)) - log((c_o+alpha)/(N_o+alpha*V))``.

    ``c_a`` is how often the token occurs in the affirming texts' token ids (tokenized as given,
    no special tokens), ``N_a`` the affirming texts' token count; likewise for the opposing
    texts. ``V`` is the vocabulary size: pass the model's (the output logits' width, which can
    exceed the tokenizer's length when the embedding is padded); default ``len(tokenizer)``.
    A token neither pole uses gets the same constant ``log((N_o+alpha*V)/(N_a+alpha*V))``; a
    constant added to every logit leaves the softmax unchanged, so only the tokens the answers
    use move anything.

    Returns:
        ``[V]`` float32 (computed in float64).

    Raises:
        ValueError: ``alpha <= 0``, or a token id outside ``[0, V)``.
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    size = len(tokenizer) if vocab_size is None else int(vocab_size)

    def counts(texts: Sequence[str]) -> Tensor:
        out = torch.zeros(size, dtype=torch.float64)
        for text in texts:
            ids = torch.tensor(
                tokenizer(text, add_special_tokens=False)["input_ids"], dtype=torch.long
            )
            if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= size):
                raise ValueError(f"Token id outside the vocabulary of {size} in {text!r}")
            out += torch.bincount(ids, minlength=size).double()
        return out

    affirm, oppose = counts(affirm_texts), counts(oppose_texts)
    log_affirm = (affirm + alpha).log() - math.log(float(affirm.sum()) + alpha * size)
    log_oppose = (oppose + alpha).log() - math.log(float(oppose.sum()) + alpha * size)
    return (log_affirm - log_oppose).float()


@dataclass(frozen=True)
class LogitBias:
    """``logits <- logits + gamma * sign * bias`` at every position.

    Attributes:
        bias: ``[vocab]`` float32 (at gamma 1, toward affirm).
        gamma: the strength.
        sign: +1 toward affirm, -1 toward oppose.
    """

    bias: Tensor
    gamma: float = 1.0
    sign: int = 1

    @contextmanager
    def apply(self, model: nn.Module) -> Iterator[None]:
        """Add the bias while the block runs; the hook is removed on exit. Gamma 0 installs
        nothing."""
        if self.sign not in (1, -1):
            raise ValueError(f"sign must be +1 or -1, got {self.sign}")
        if self.gamma == 0.0:
            yield
            return
        module = output_module(model)
        added = self.gamma * self.sign * self.bias

        def hook(_module: nn.Module, _args: Any, output: Tensor) -> Tensor:
            if output.shape[-1] != added.numel():
                raise ValueError(
                    f"The bias has {added.numel()} entries, the logits {output.shape[-1]}"
                )
            return output + added.to(output.device, output.dtype)

        handle = module.register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    def reset(self) -> None:
        """Nothing to restart: the edit is deterministic."""

    def with_gamma(self, gamma: float) -> LogitBias:
        return replace(self, gamma=float(gamma))

    def control(self, *, seed: int = 0) -> LogitBias:
        """The same bias permuted over the vocabulary (same values and norm), same gamma."""
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(self.bias.numel(), generator=generator)
        return replace(self, bias=self.bias[order].clone())
