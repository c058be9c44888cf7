"""The machine index: how fast this machine runs the run's model, measured before any stage.

A wall time means little without the speed of the machine it was measured on: the same main
job took 12.7 min one day and 26.1 min another on the same kind of 2-core machine. So every
``valuelocate run`` first times a fixed bare batched forward of its model (a few seconds) and
records the tokens per second in the run's manifest; docs/benchmarks.md gives every wall time
with it, so a slow day shows as such.

Usage:

    >>> index = measure_machine(lm)
    >>> index.tokens_per_s, index.line()
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from valuelocate.forward import input_device
from valuelocate.models import LoadedModel


@dataclass(frozen=True)
class MachineIndex:
    """Tokens per second of a bare batched forward (no hooks, no cache, no grad).

    Attributes:
        tokens_per_s: ``batch * length`` over the median of ``seconds``.
        batch, length: the forward's shape (fixed token ids, seeded).
        seconds: each timed forward (after one untimed warm-up).
        device: where the model ran; threads: torch's intra-op threads.
    """

    tokens_per_s: float
    batch: int
    length: int
    seconds: tuple[float, ...]
    device: str
    threads: int

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = list(self.seconds)
        return data

    def line(self) -> str:
        """``"machine index 712 tokens/s (bare forward 8 x 64 tokens, median of 3, ...)"``"""
        return (
            f"machine index {self.tokens_per_s:.0f} tokens/s (bare forward {self.batch} x "
            f"{self.length} tokens, median of {len(self.seconds)}, {self.device}, "
            f"{self.threads} threads)"
        )


def measure_machine(
    lm: LoadedModel, *, batch: int = 8, length: int = 64, repeats: int = 3, seed: int = 0
) -> MachineIndex:
    """Time ``repeats`` forwards of ``batch`` rows of ``length`` fixed random token ids.

    The ids are drawn from the model's vocabulary with a seeded generator, so the index of
    one model is the same work on every machine and every day.
    """
    device = input_device(lm.model)
    model: Any = lm.model
    vocab = int(model.get_input_embeddings().weight.shape[0])
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (batch, length), generator=generator).to(device)
    seconds = []
    with torch.no_grad():
        for i in range(repeats + 1):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            began = time.perf_counter()
            model(input_ids=ids, use_cache=False, logits_to_keep=1)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i > 0:  # the first forward warms caches and allocators
                seconds.append(time.perf_counter() - began)
    median = statistics.median(seconds)
    return MachineIndex(
        tokens_per_s=batch * length / median,
        batch=batch,
        length=length,
        seconds=tuple(seconds),
        device=str(device),
        threads=torch.get_num_threads(),
    )


__all__ = ["MachineIndex", "measure_machine"]
