"""Streaming, mergeable per-neuron statistics for one (dimension, pole).

Usage:

1. ``stats = NeuronStats(num_layers=L, neurons=N)`` makes empty statistics for every neuron
   (layer l, neuron j). Nothing is allocated per prompt: memory is fixed by ``L``, ``N`` and
   ``hist_bins``.
2. For each batch of prompts, feed every forward call of every layer to ``stats.add``, which
   has the :data:`valuelocate.hooks.TraceFn` signature, then close the batch::

       with trace_neurons(model, stats.add, scope="generated"):
           model.generate(**batch, max_new_tokens=500)
       stats.end_batch()

   A prompt is one batch row. With a KV cache its tokens arrive over many forward calls (one
   per decoding step), so ``add`` only adds each row's values (their sum and sum of squares)
   and the histogram; ``end_batch`` turns each row's sums into that prompt's mean and folds
   the batch into the token- and prompt-level statistics. The simple case, one forward over
   prompt and answer, is the same recipe: ``add`` (through the hook) once, then ``end_batch``.
   Until ``end_batch``, the batch is not in ``n``, ``mean``, ``prompt_mean`` and the like.
3. Shards (two GPUs, two jobs, a resumed run) combine exactly: ``total = a + b`` or
   ``a.merge(b)``; ``stats.save(path)`` and ``NeuronStats.load(path)`` keep them on disk as
   safetensors.
4. Read the results as ``[layers, neurons]`` tensors: ``p``, ``mean``, ``var``, ``q95``,
   ``prompt_mean``, ``prompt_var``, ``prompt_count``.

What is kept per neuron (the histogram's bins, the moments) and the design notes (devices,
no host syncs on accelerators, int32 counts) are in ``docs/statistics.md``.

The modules: :mod:`~valuelocate.stats.accumulator` (:class:`NeuronStats`),
:mod:`~valuelocate.stats.kernels` (the arithmetic of one ``add`` on the CPU, compiled),
:mod:`~valuelocate.stats.update` (the same on accelerators),
:mod:`~valuelocate.stats.moments` (streaming moments), :mod:`~valuelocate.stats.readout` (the
``[layers, neurons]`` readings), :mod:`~valuelocate.stats.store` (the file format) and
:mod:`~valuelocate.stats.constants` (what they share).
"""

from valuelocate.stats.accumulator import NeuronStats
from valuelocate.stats.constants import (
    FORMAT_NAME,
    FORMAT_VERSION,
    HIST_DTYPE,
    READABLE_VERSIONS,
    STATISTICS,
)
from valuelocate.stats.moments import Moments
from valuelocate.stats.readout import StatsReadout

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "HIST_DTYPE",
    "READABLE_VERSIONS",
    "STATISTICS",
    "Moments",
    "NeuronStats",
    "StatsReadout",
]
