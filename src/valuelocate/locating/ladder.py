"""The sparsity ladder of a model: per dimension, the middle band's neurons ranked by the
forced-choice pairs' paired effect size (METHOD.md section 8, "The sparsity curve").

Usage:

1. ``diffs = item_differences(lm, items, default_band(num_layers))``: per search item, the
   mean ``act`` activation over the affirming answer's tokens minus the mean over the opposing
   answer's, each answer read after the item's situation (as
   :func:`~valuelocate.locating.contrast.pair_stats` reads them), ``[items, layers, neurons]``.
2. ``ladder = build_ladder(diffs, dimension=..., layers=band, total_neurons=...)`` ranks the
   band by dz and fixes the points (0.1% ... 10% of all neurons, then the band).
3. ``ladders, diffs = locate_ladders(lm, DIMENSIONS)`` does both for every dimension on the
   search split; ``valuelocate locate`` runs it after the neuron sets and writes the result
   into the run (:func:`valuelocate.artifacts.save_ladders`), where the verdict reads it;
   the differences are not kept: the verdict recomputes them (the ladder keeps their digest).

Only search items locate: the ``dev`` and ``test`` splits are refused by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor

from valuelocate.architectures import ArchSpec, model_shape
from valuelocate.artifacts import ArtifactError
from valuelocate.artifacts.ladders import load_ladders
from valuelocate.data.forced_choice import ForcedChoiceLike, load_forced_choice
from valuelocate.forward import input_device, position_ids, stop_after
from valuelocate.hooks import trace_neurons
from valuelocate.models import LoadedModel
from valuelocate.prompting import answer_ids, context_ids, left_pad, pad_token_id
from valuelocate.steering.ladder import (
    DEFAULT_FRACTIONS,
    Ladder,
    build_ladder,
    ladder_points,
    paired_effect,
)
from valuelocate.vocab import POLES, Site

__all__ = [
    "DEFAULT_FRACTIONS",
    "REFUSED_SPLITS",
    "Ladder",
    "build_ladder",
    "default_band",
    "item_differences",
    "ladders_of_run",
    "locate_ladders",
    "paired_effect",
]

# Splits that evaluate: never used to rank neurons.
REFUSED_SPLITS: tuple[str, ...] = ("dev", "test")


def default_band(num_layers: int) -> tuple[int, ...]:
    """The middle band's layers: 8-22 of a 30-layer model, scaled to ``num_layers`` (the
    middle of the network, where the issue's probe found value directions).

    Example:
        >>> default_band(5)
        (1, 2, 3, 4)
    """
    first = round(num_layers * 8 / 30)
    last = min(num_layers - 1, round(num_layers * 22 / 30))
    return tuple(range(first, last + 1))


def item_differences(
    lm: LoadedModel,
    items: Sequence[ForcedChoiceLike],
    layers: Sequence[int],
    *,
    chat_template: bool = True,
    batch_size: int = 16,
    arch: ArchSpec | None = None,
    site: Site = "act",
) -> Tensor:
    """Per item, the affirming answer's mean activation minus the opposing answer's.

    Each answer is read after its item's situation as context (``context_ids + answer_ids``,
    left padded, only the answer's tokens counted), as
    :func:`~valuelocate.locating.contrast.pair_stats` reads it; the per-answer means are
    taken in float64.

    Args:
        lm: the model.
        items: forced-choice items of the search split.
        layers: model layers to read, in the output's order (distinct).
        chat_template: read through the chat template when the tokenizer has one.
        batch_size: answers per forward.
        arch: an architecture override for a family outside the table.
        site: where the neurons are read (``act``, the ladder's; ``down_in``: the input of
            the down projection, where an addition is a constant residual vector).

    Returns:
        ``[len(items), len(layers), neurons_per_layer]`` float32 at ``site``.

    Raises:
        ValueError: an item of the ``dev`` or ``test`` split, or repeated layers.

    Example:
        >>> diffs = item_differences(lm, load_forced_choice(split="search"), (1, 2, 3, 4))
    """
    refused = [i for i in items if getattr(i, "split", "search") in REFUSED_SPLITS]
    if refused:
        split = getattr(refused[0], "split", "?")
        raise ValueError(
            f"Item {refused[0].id!r} is of the {split} split: only search items locate"
        )
    layers = [int(i) for i in layers]
    if len(set(layers)) != len(layers):
        raise ValueError(f"Layers {layers} repeat a layer")
    position = {layer: p for p, layer in enumerate(layers)}
    neurons = model_shape(lm.model, arch).neurons_per_layer
    device = input_device(lm.model)
    pad = pad_token_id(lm.tokenizer)
    contexts = [context_ids(lm, i.situation.strip(), chat_template=chat_template) for i in items]
    means = {}
    for pole in POLES:
        out = torch.zeros(len(items), len(layers), neurons, dtype=torch.float64)
        rows = [
            (context, answer_ids(lm, getattr(item, pole), chat_template=chat_template))
            for context, item in zip(contexts, items, strict=True)
        ]
        for begin in range(0, len(rows), batch_size):
            chunk = rows[begin : begin + batch_size]
            ids, mask = left_pad([context + answer for context, answer in chunk], pad)
            width = ids.shape[1]
            scope = torch.zeros((len(chunk), width), dtype=torch.bool)
            for i, (_context, answer) in enumerate(chunk):
                scope[i, width - len(answer) :] = True  # the answer's tokens only
            counts = scope.sum(1, keepdim=True).double()  # [b, 1]
            scope_on = scope.to(device).unsqueeze(-1)  # [b, s, 1]

            def add_means(
                layer: int,
                values: Tensor,  # [b, s, neurons]
                _mask: Tensor,
                _on: Tensor = scope_on,
                _counts: Tensor = counts,
                _out: Tensor = out,
                _begin: int = begin,
            ) -> None:
                sums = torch.where(_on, values.double(), 0.0).sum(dim=1).cpu()  # [b, neurons]
                _out[_begin : _begin + sums.shape[0], position[layer]] = sums / _counts

            # nothing above the last read layer is needed: the forward stops there (the
            # layers above and the vocabulary head were two fifths of this read's time)
            with (
                stop_after(lm.model, max(layers), arch),
                torch.no_grad(),
                trace_neurons(lm.model, add_means, site=site, layers=layers, arch=arch),
            ):
                lm.model(
                    input_ids=ids.to(device),
                    attention_mask=mask.to(device),
                    position_ids=position_ids(mask).to(device),
                )
        means[pole] = out
    return (means["affirm"] - means["oppose"]).float()


def locate_ladders(
    lm: LoadedModel,
    dimensions: Sequence[str],
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    band: Sequence[int] | None = None,
    chat_template: bool = True,
    progress: Callable[[str], None] | None = None,
    arch: ArchSpec | None = None,
) -> tuple[dict[str, Ladder], dict[str, Tensor]]:
    """Every dimension's ladder on the forced-choice search items.

    Args:
        lm: the model.
        dimensions: which dimensions.
        fractions: the points below the band, as fractions of all MLP neurons.
        band: the band's layers; :func:`default_band` when None.
        chat_template: read the items through the chat template.
        progress: told ``"ladder {dimension}: N items"`` as each dimension starts.
        arch: an architecture override for a family outside the table.

    Returns:
        ``(ladders, diffs)``: dimension -> :class:`Ladder`, and dimension -> the per-item
        differences ``[items, layers, neurons]`` float32 (the label shuffles' input).

    Example:
        >>> ladders, diffs = locate_ladders(lm, ("conservation",))
        >>> ladders["conservation"].counts(0)
    """
    shape = model_shape(lm.model, arch)
    layers = default_band(shape.num_layers) if band is None else tuple(sorted(set(band)))
    ladders: dict[str, Ladder] = {}
    diffs: dict[str, Tensor] = {}
    for dimension in dimensions:
        items = load_forced_choice(dimension=dimension, split="search")
        if progress is not None:
            progress(f"ladder {dimension}: {len(items)} items")
        diffs[dimension] = item_differences(
            lm, items, layers, chat_template=chat_template, arch=arch
        )
        ladders[dimension] = build_ladder(
            diffs[dimension],
            dimension=dimension,
            layers=layers,
            total_neurons=shape.total_neurons,
            fractions=fractions,
            item_ids=[item.id for item in items],
        )
    return ladders, diffs


def ladders_of_run(
    lm: LoadedModel,
    run_dir: str | Path,
    dimensions: Sequence[str],
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    chat_template: bool = True,
    reuse: bool = False,
    arch: ArchSpec | None = None,
) -> dict[str, Ladder]:
    """The ladders a locate run writes, by dimension: with ``reuse`` (a resumed run), a
    dimension whose ladder ``run_dir`` already holds for the same band, points and search
    items is read back instead of recomputed; the others are computed."""
    shape = model_shape(lm.model, arch)
    band = default_band(shape.num_layers)
    points = ladder_points(
        fractions, total_neurons=shape.total_neurons, band_size=len(band) * shape.neurons_per_layer
    )
    ladders: dict[str, Ladder] = {}
    if reuse:
        try:
            stored = load_ladders(run_dir)
        except ArtifactError:
            stored = {}  # none yet (or damaged): compute them
        for dimension, ladder in stored.items():
            if dimension not in dimensions or ladder.layers != band:
                continue
            if (ladder.sizes, ladder.labels) != points or not ladder.digest:
                continue
            ids = tuple(i.id for i in load_forced_choice(dimension=dimension, split="search"))
            if ladder.item_ids == ids:
                ladders[dimension] = ladder
    missing = [d for d in dimensions if d not in ladders]
    if missing:
        fresh, _diffs = locate_ladders(
            lm, missing, fractions=fractions, band=band, chat_template=chat_template, arch=arch
        )
        ladders.update(fresh)
    return {d: ladders[d] for d in dimensions}
