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
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from pathlib import Path

import torch
from torch import Tensor

from valuelocate.stats_moments import (
    Moments,
    OpenBatch,
    chan_update,
    gathers_tokens,
    weighted_moments,
)
from valuelocate.stats_readout import StatsReadout
from valuelocate.stats_store import (
    _HIST_LIMIT,
    HIST_DTYPE,
    file_header,
    read_header,
    read_state,
    validate_state,
    write_state,
)
from valuelocate.stats_store import FORMAT_NAME as FORMAT_NAME  # re-exported
from valuelocate.stats_store import FORMAT_VERSION as FORMAT_VERSION
from valuelocate.stats_store import READABLE_VERSIONS as READABLE_VERSIONS

# What can be kept (``statistics=``): ``histogram`` gives c, p, q95 and quantile(); ``mean``
# the token mean; ``var`` the token variance; ``prompt`` the prompt-level count, mean and
# variance. ``mean`` and ``prompt`` come from the same per-prompt sums and are always kept;
# leaving out ``histogram`` or ``var`` skips work in every ``add``.
STATISTICS = ("histogram", "mean", "var", "prompt")
_ALWAYS = frozenset({"mean", "prompt"})
# Gathered tokens are processed in chunks of about this many values, so that the float64
# copy, its matrix product and the histogram's index passes stay in the CPU's cache.
_CHUNK_VALUES = 2**18


class NeuronStats(StatsReadout):
    """Per-neuron token- and prompt-level statistics of one (dimension, pole), streamed.

    Args:
        num_layers: number of decoder layers ``L``.
        neurons: neurons per layer ``N``.
        hist_bins: histogram bins ``B``, including the ``a <= 0`` bin and the overflow bin
            (default 301, the study's).
        bin_width: width of the regular bins (default 0.01): they cover
            ``(0, (B - 2) * bin_width]``.
        device: where the (empty) state starts; each layer's state moves to its values' device
            on the first :meth:`add`.
        statistics: which of :data:`STATISTICS` to keep (default all). Reading one that was
            left out raises RuntimeError; a selection method's ``needs`` says what it reads.

    Example:
        >>> stats = NeuronStats(num_layers=30, neurons=1536)
        >>> with trace_neurons(model, stats.add, scope="generated"):
        ...     model.generate(**batch, max_new_tokens=64)
        >>> stats.end_batch(); stats.p.shape
        torch.Size([30, 1536])
    """

    def __init__(
        self,
        num_layers: int,
        neurons: int,
        *,
        hist_bins: int = 301,
        bin_width: float = 0.01,
        device: torch.device | str = "cpu",
        statistics: Collection[str] | None = None,
    ) -> None:
        if num_layers < 1 or neurons < 1:
            raise ValueError(f"Need at least one layer and neuron, got {num_layers} x {neurons}")
        if hist_bins < 3:
            raise ValueError(
                f"hist_bins must be at least 3 (non-positive, regular, overflow), got {hist_bins}"
            )
        if not (bin_width > 0 and math.isfinite(bin_width)):
            raise ValueError(f"bin_width must be a positive number, got {bin_width}")
        chosen = frozenset(STATISTICS if statistics is None else statistics)
        unknown = sorted(chosen - set(STATISTICS))
        if unknown:
            raise ValueError(f"Unknown statistics {unknown}; expected some of {STATISTICS}")
        self.statistics = chosen | _ALWAYS
        self.num_layers = num_layers
        self.neurons = neurons
        self.hist_bins = hist_bins
        self.bin_width = float(bin_width)
        dev = torch.device(device)
        self._hist = [
            torch.zeros(neurons * hist_bins, dtype=HIST_DTYPE, device=dev)  # [neurons * bins]
            for _ in range(num_layers)
        ]
        self._tok = [self._empty_moments(dev) for _ in range(num_layers)]
        self._prompt = [self._empty_moments(dev) for _ in range(num_layers)]
        self._open: list[OpenBatch | None] = [None] * num_layers  # None outside a batch
        self._offsets: dict[torch.device, Tensor] = {}  # [neurons] int64: j * bins
        self._ones_buffer: dict[torch.device, Tensor] = {}  # [size] int32 ones
        self._scratch: dict[tuple[torch.device, str], Tensor] = {}  # reused CPU work buffers

    @property
    def keeps_histogram(self) -> bool:
        return "histogram" in self.statistics

    @property
    def keeps_var(self) -> bool:
        return "var" in self.statistics

    def _require(self, statistic: str) -> None:
        if statistic not in self.statistics:
            raise RuntimeError(
                f"These statistics were collected without {statistic!r} (kept: "
                f"{sorted(self.statistics)}); collect them with statistics including it"
            )

    def _empty_moments(self, device: torch.device) -> Moments:
        zeros = torch.zeros(self.neurons, dtype=torch.float64, device=device)
        return Moments(torch.zeros((), dtype=torch.int64, device=device), zeros, zeros.clone())

    # ------------------------------------------------------------------ accumulation

    def add(self, layer: int, values: Tensor, mask: Tensor | None = None) -> None:
        """Count one forward call of one layer; a :data:`~valuelocate.hooks.TraceFn`.

        Args:
            layer: layer index in ``[0, num_layers)``.
            values: the neurons' values ``[batch, seq, neurons]`` (any float dtype).
            mask: ``[batch, seq]`` bool, True at the tokens to count; all when ``None``.
                A row with no True entries adds nothing.

        Calls between two :meth:`end_batch` calls must keep the same batch size: their rows
        are the same prompts, continued.
        """
        self._check_call(layer, values, mask)
        batch, seq, neurons = values.shape
        device = values.device
        if self._hist[layer].device != device:
            self._move_layer(layer, device)
        opened = self._open_batch(layer, batch, device)
        x = values.reshape(batch * seq, neurons)  # [tokens, neurons]
        keep = None if mask is None else mask.reshape(batch * seq).to(device, torch.bool)
        if gathers_tokens(device):
            if keep is None:
                picked = torch.arange(batch * seq, device=device)
            else:
                picked = keep.nonzero().squeeze(1)  # [kept tokens]
                x = x.index_select(0, picked)
            rows = picked // seq
            step = max(1, _CHUNK_VALUES // neurons)
            for start in range(0, x.shape[0], step):
                part = x[start : start + step]
                self._add_gathered_rows(opened, part, rows[start : start + step], batch)
                if self.keeps_histogram:
                    self._hist_add_gathered(layer, part)
            return
        self._add_rows(opened, x, keep, batch)
        if self.keeps_histogram:
            self._hist[layer].scatter_add_(0, *self._hist_update(x, keep))

    def _check_call(self, layer: int, values: Tensor, mask: Tensor | None) -> None:
        if not 0 <= layer < self.num_layers:
            raise ValueError(f"Layer {layer} out of range: these stats have {self.num_layers}")
        if values.dim() != 3 or values.shape[-1] != self.neurons:
            raise ValueError(
                f"Expected values [batch, seq, {self.neurons}], got {tuple(values.shape)}"
            )
        if mask is not None and tuple(mask.shape) != tuple(values.shape[:2]):
            raise ValueError(
                f"Mask shape {tuple(mask.shape)} does not match values {tuple(values.shape)}"
            )
        opened = self._open[layer]
        if opened is not None and opened.count.shape[0] != values.shape[0]:
            raise ValueError(
                f"Layer {layer} got a batch of {values.shape[0]} rows while a batch of "
                f"{opened.count.shape[0]} is open; call end_batch() between batches"
            )

    def _open_batch(self, layer: int, batch: int, device: torch.device) -> OpenBatch:
        opened = self._open[layer]
        if opened is None:
            zeros = torch.zeros(batch, self.neurons, dtype=torch.float64, device=device)
            opened = OpenBatch(
                shift=self._tok[layer].mean.clone(),
                total=zeros,
                squares=zeros.clone() if self.keeps_var else None,
                count=torch.zeros(batch, dtype=torch.int64, device=device),
            )
            self._open[layer] = opened
        return opened

    def _buffer(self, device: torch.device, name: str, size: int, dtype: torch.dtype) -> Tensor:
        """A reused ``[size]`` work buffer: allocating tens of MB per call costs page faults
        that are a large part of the update on the CPU."""
        buf = self._scratch.get((device, name))
        if buf is None or buf.numel() < size or buf.dtype != dtype:
            buf = torch.empty(size, dtype=dtype, device=device)
            self._scratch[(device, name)] = buf
        return buf[:size]

    def _add_gathered_rows(self, opened: OpenBatch, x: Tensor, rows: Tensor, batch: int) -> None:
        """Add gathered tokens ``x`` [tokens, neurons] of batch rows ``rows`` [tokens]."""
        size = x.shape[0] * self.neurons
        centred = self._buffer(x.device, "centred", size, torch.float64).view(x.shape)
        torch.sub(x, opened.shift, out=centred)  # [tokens, neurons] float64
        # A one-hot [batch, tokens] matmul sums each row's tokens: deterministic and much
        # faster on the CPU than index_add_.
        onehot = rows[None, :] == torch.arange(batch, device=x.device)[:, None]
        weights = onehot.to(torch.float64)
        opened.total.add_(weights @ centred)
        if opened.squares is not None:
            opened.squares.add_(weights @ centred.square_())
        opened.count.add_(onehot.sum(1))

    def _hist_add_gathered(self, layer: int, x: Tensor) -> None:
        """Count gathered tokens ``x`` [tokens, neurons] into the histogram (CPU).

        The bins are computed neuron-major (``[neurons, tokens]``), so that consecutive
        increments of the one ``scatter_add_`` land in the same neuron's row of bins, and in
        reused buffers; the bin of each value is the one :meth:`_hist_update` gives.
        """
        tokens = x.shape[0]
        size = tokens * self.neurons
        device = x.device
        y = self._buffer(device, "bins", size, torch.float32).view(self.neurons, tokens)
        torch.mul(x.t().to(torch.float32), 1.0 / self.bin_width, out=y)
        y.ceil_().clamp_(0.0, self.hist_bins - 1).nan_to_num_(0.0)
        flat = self._buffer(device, "flat", size, torch.int64).view(self.neurons, tokens)
        flat.copy_(y)
        flat.add_(self._offsets_of(device)[:, None])
        self._hist[layer].scatter_add_(0, flat.view(-1), self._ones(size, device))

    def _offsets_of(self, device: torch.device) -> Tensor:
        """``[neurons]`` int64 ``j * hist_bins``: where neuron j's bins start."""
        offsets = self._offsets.get(device)
        if offsets is None:
            offsets = torch.arange(self.neurons, device=device) * self.hist_bins
            self._offsets[device] = offsets
        return offsets

    def _add_rows(self, opened: OpenBatch, x: Tensor, keep: Tensor | None, batch: int) -> None:
        """Add all tokens ``x`` [batch * seq, neurons] (row-major), weighted by ``keep``."""
        centred = x - opened.shift  # [tokens, neurons] float64 by type promotion
        if keep is not None:
            centred = torch.where(keep[:, None], centred, 0.0)  # padding may hold anything
        opened.total.add_(centred.view(batch, -1, self.neurons).sum(1))
        if opened.squares is not None:
            opened.squares.add_(centred.square_().view(batch, -1, self.neurons).sum(1))
        if keep is None:
            opened.count.add_(x.shape[0] // batch)
        else:
            opened.count.add_(keep.view(batch, -1).sum(1))

    def _hist_update(self, x: Tensor, keep: Tensor | None) -> tuple[Tensor, Tensor]:
        """(flat cell index, increment), both [tokens * neurons], for ``scatter_add_``."""
        bins = self.hist_bins
        offsets = self._offsets_of(x.device)
        # bin = ceil(a / w) clipped to [0, B-1]: 0 for a <= 0, B-1 for the overflow.
        y = (x.to(torch.float32) * (1.0 / self.bin_width)).ceil_()
        y.clamp_(0.0, bins - 1).nan_to_num_(0.0)
        flat = y.to(torch.int64).add_(offsets).reshape(-1)  # [tokens * neurons]
        if keep is None:
            inc = self._ones(flat.shape[0], x.device)
        else:
            inc = keep.to(HIST_DTYPE)[:, None].expand(x.shape).reshape(-1)
        return flat, inc

    def _ones(self, size: int, device: torch.device) -> Tensor:
        """``[size]`` int32 ones, from a buffer kept per device (scatter_add_ is about twice
        as fast on the CPU with a contiguous source as with an expanded scalar)."""
        ones = self._ones_buffer.get(device)
        if ones is None or ones.shape[0] < size:
            ones = torch.ones(size, dtype=HIST_DTYPE, device=device)
            self._ones_buffer[device] = ones
        return ones[:size]

    def end_batch(self) -> None:
        """Close the current batch: fold its tokens into the token-level statistics, and each
        row with at least one counted token, as one prompt, into the prompt-level ones.

        Safe to call when no batch is open (it does nothing).
        """
        for layer in range(self.num_layers):
            opened = self._open[layer]
            if opened is None:
                continue
            count = opened.count.to(torch.float64)  # [batch]
            n_b = opened.count.sum()
            total = opened.total.sum(0)  # [neurons], of a - shift
            mean_b = total / n_b.clamp(min=1)
            if opened.squares is None:  # var not kept: M2 stays zero
                m2_b = torch.zeros_like(mean_b)
            else:
                m2_b = (opened.squares.sum(0) - total * mean_b).clamp_(min=0.0)
            chan_update(self._tok[layer], n_b, opened.shift + mean_b, m2_b)

            counted = opened.count > 0  # [batch]
            row_mean = opened.shift + opened.total / count.clamp(min=1.0)[:, None]
            chan_update(self._prompt[layer], *weighted_moments(row_mean, counted))
            self._open[layer] = None
        self._check_hist_bound()

    @property
    def has_open_batch(self) -> bool:
        """True between an :meth:`add` and the next :meth:`end_batch`."""
        return any(opened is not None for opened in self._open)

    def _check_hist_bound(self) -> None:
        largest = max(int(m.n) for m in self._tok)
        if largest > _HIST_LIMIT:
            raise OverflowError(
                f"{largest} tokens exceed the int32 histogram's limit of {_HIST_LIMIT}; "
                "split the run into shards with fewer tokens"
            )

    # ------------------------------------------------------------------ devices and merging

    def _move_layer(self, layer: int, device: torch.device) -> None:
        self._hist[layer] = self._hist[layer].to(device)
        self._tok[layer] = self._tok[layer].to(device)
        self._prompt[layer] = self._prompt[layer].to(device)
        opened = self._open[layer]
        if opened is not None:
            self._open[layer] = opened.to(device)

    def to(self, device: torch.device | str) -> NeuronStats:
        """Move every layer's state to ``device`` (in place); returns ``self``."""
        dev = torch.device(device)
        for layer in range(self.num_layers):
            self._move_layer(layer, dev)
        return self

    def clone(self) -> NeuronStats:
        """A deep copy (no open batch allowed)."""
        self._require_closed("clone")
        out = NeuronStats(
            self.num_layers,
            self.neurons,
            hist_bins=self.hist_bins,
            bin_width=self.bin_width,
            statistics=self.statistics,
        )
        out._hist = [t.clone() for t in self._hist]
        out._tok = [m.clone() for m in self._tok]
        out._prompt = [m.clone() for m in self._prompt]
        return out

    def merge(self, other: NeuronStats) -> NeuronStats:
        """Add ``other``'s counts into ``self`` (in place) and return ``self``.

        Counts and histograms add exactly; means and M2 combine by Chan's formula, so merging
        shards equals processing them in one run (floats to rounding).
        """
        self._require_closed("merge")
        other._require_closed("merge")
        self._check_compatible(other)
        for layer in range(self.num_layers):
            device = self._hist[layer].device
            self._hist[layer].add_(other._hist[layer].to(device))
            for mine, theirs in (
                (self._tok[layer], other._tok[layer]),
                (self._prompt[layer], other._prompt[layer]),
            ):
                t = theirs.to(device)
                chan_update(mine, t.n, t.mean, t.m2)
        self._check_hist_bound()
        return self

    def __add__(self, other: NeuronStats) -> NeuronStats:
        return self.clone().merge(other)

    def _check_compatible(self, other: NeuronStats) -> None:
        mine = (self.num_layers, self.neurons, self.hist_bins, self.bin_width)
        theirs = (other.num_layers, other.neurons, other.hist_bins, other.bin_width)
        if mine != theirs:
            raise ValueError(
                "Cannot merge statistics of different geometry: (layers, neurons, bins, width) "
                f"{mine} vs {theirs}"
            )
        if self.statistics != other.statistics:
            raise ValueError(
                f"Cannot merge statistics that keep {sorted(self.statistics)} with ones that "
                f"keep {sorted(other.statistics)}"
            )

    def _require_closed(self, action: str) -> None:
        if self.has_open_batch:
            raise RuntimeError(f"Cannot {action} with an open batch; call end_batch() first")

    # ------------------------------------------------------------------ persistence

    def state_dict(self) -> dict[str, Tensor]:
        """All counts and moments as CPU tensors (no open batch allowed).

        Keys: ``n`` [L] int64, ``hist`` [L, N, B] int32, ``mean``/``m2`` [L, N] float64,
        ``prompt_n`` [L] int64, ``prompt_mean``/``prompt_m2`` [L, N] float64 (``c`` is
        ``n - hist[..., 0]``). A histogram or variance that is not kept reads as zeros.
        """
        self._require_closed("save")
        return {
            "n": self.n,
            "hist": self._gather(self._hist).view(self.num_layers, self.neurons, self.hist_bins),
            "mean": self._gather([m.mean for m in self._tok]),
            "m2": self._gather(
                [m.m2 if self.keeps_var else torch.zeros_like(m.m2) for m in self._tok]
            ),
            "prompt_n": self.prompt_count,
            "prompt_mean": self._gather([m.mean for m in self._prompt]),
            "prompt_m2": self._gather([m.m2 for m in self._prompt]),
        }

    @classmethod
    def from_state_dict(
        cls,
        state: Mapping[str, Tensor],
        *,
        bin_width: float = 0.01,
        statistics: Collection[str] | None = None,
    ) -> NeuronStats:
        """Rebuild statistics from :meth:`state_dict`'s output (validated; raises ValueError).

        The geometry comes from the tensors' shapes; ``bin_width`` and ``statistics`` (default
        all) are not in the tensors and must be given unless they are the defaults.
        """
        keeps = frozenset(STATISTICS if statistics is None else statistics)
        validate_state(state, histogram="histogram" in keeps)
        num_layers, neurons, bins = state["hist"].shape
        out = cls(num_layers, neurons, hist_bins=bins, bin_width=bin_width, statistics=keeps)
        for layer in range(num_layers):
            out._hist[layer] = state["hist"][layer].reshape(-1).clone()
            out._tok[layer] = Moments(
                state["n"][layer].clone(), state["mean"][layer].clone(), state["m2"][layer].clone()
            )
            out._prompt[layer] = Moments(
                state["prompt_n"][layer].clone(),
                state["prompt_mean"][layer].clone(),
                state["prompt_m2"][layer].clone(),
            )
        return out

    def save(self, path: str | Path, *, metadata: Mapping[str, str] | None = None) -> None:
        """Write to a safetensors file (format version 3: the histogram compressed, see
        :mod:`valuelocate.stats_store`; exact). ``metadata`` adds free-form string entries (for
        example the dimension, pole, model and scope) beside the reserved format keys."""
        self._require_closed("save")
        write_state(path, self.state_dict(), file_header(self, metadata),
                    self._hist if self.keeps_histogram else None)  # fmt: skip

    @classmethod
    def load(cls, path: str | Path) -> NeuronStats:
        """Read a file written by :meth:`save` (format version 3, or 2 from older runs); raises
        ValueError naming the file if it is not one, is corrupt, or its tensors do not match
        its header."""
        header = cls.read_metadata(path)
        state, statistics = read_state(path, header)
        try:
            return cls.from_state_dict(
                state, bin_width=float(header["bin_width"]), statistics=statistics
            )
        except (KeyError, ValueError) as err:
            raise ValueError(f"Invalid statistics file {path}: {err}") from err

    @staticmethod
    def read_metadata(path: str | Path) -> dict[str, str]:
        """The header of a statistics file (format keys and the user's ``metadata``)."""
        return read_header(path)
