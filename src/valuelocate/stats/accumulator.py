"""The accumulator :class:`NeuronStats`: streaming, mergeable per-neuron statistics for one
(dimension, pole). The usage recipe is in :mod:`valuelocate.stats`; the readings are in
:mod:`~valuelocate.stats.readout`, the arithmetic of one update in
:mod:`~valuelocate.stats.kernels` (CPU) and :mod:`~valuelocate.stats.update` (accelerators),
and the file format in :mod:`~valuelocate.stats.store`."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from pathlib import Path

import torch
from torch import Tensor

from valuelocate.stats.constants import ALWAYS_KEPT, HIST_DTYPE, HIST_LIMIT, STATISTICS
from valuelocate.stats.moments import (
    Moments,
    OpenBatch,
    chan_update,
    gathers_tokens,
    weighted_moments,
)
from valuelocate.stats.readout import StatsReadout, gather
from valuelocate.stats.store import (
    file_header,
    read_header,
    read_state,
    validate_state,
    write_state,
)
from valuelocate.stats.update import Workspace, add_rows, hist_update


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
        self.statistics = chosen | ALWAYS_KEPT
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
        self._work = Workspace(neurons, hist_bins)  # reused work buffers of add()

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
            # the compiled loop (stats.kernels) reads the counted tokens in place; imported
            # here so that what only reads statistics does not load numba
            from valuelocate.stats.kernels import add_tokens

            picked = (
                torch.arange(batch * seq) if keep is None else keep.nonzero().squeeze(1)
            )  # [counted tokens]
            hist = self._hist[layer] if self.keeps_histogram else None
            add_tokens(opened, x, picked, picked // seq, hist, self.bin_width, self.hist_bins)
            return
        add_rows(opened, x, keep, batch)
        if self.keeps_histogram:
            self._hist[layer].scatter_add_(0, *hist_update(x, keep, self.bin_width, self._work))

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
        if largest > HIST_LIMIT:
            raise OverflowError(
                f"{largest} tokens exceed the int32 histogram's limit of {HIST_LIMIT}; "
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
            "hist": gather(self._hist).view(self.num_layers, self.neurons, self.hist_bins),
            "mean": gather([m.mean for m in self._tok]),
            "m2": gather([m.m2 if self.keeps_var else torch.zeros_like(m.m2) for m in self._tok]),
            "prompt_n": self.prompt_count,
            "prompt_mean": gather([m.mean for m in self._prompt]),
            "prompt_m2": gather([m.m2 for m in self._prompt]),
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
        :mod:`valuelocate.stats.store`; exact). ``metadata`` adds free-form string entries (for
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
