"""The decoding loop's batch of rows as the model sees it: the KV cache, the attention mask and
each row's last position. Rows leave it when they end (:func:`keep`) and join it between steps
(:func:`join`: a group prefilled on its own, both sides left-padded to a common length).

Left padding is what ``model.generate`` uses: a row's real tokens end at the last column, the
padding columns before them are masked out (attention weight exactly 0) and position ids count
real tokens only, so a row's keys and values do not depend on how much padding it has. A row
that joins a running batch therefore attends to exactly its own tokens, as it would alone; its
results differ from its solo ones only by the batch's float rounding, which the decoding loop's
near-tie check already covers (:mod:`valuelocate.serve.decode`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from valuelocate.prompting import left_pad


@dataclass
class Batch:
    """The model-side state of the rows generating together.

    Attributes:
        cache: the KV cache, one row per batch row, as long as ``mask``.
        mask: ``[rows, columns]``, 1 where a row has a real token (left padding is 0).
        last: ``[rows, 1]``, the position id of each row's last token.
        padded: whether calls pass the mask (there is padding, or rows have joined); a
            batch without padding passes none, as ``generate`` does.
    """

    cache: DynamicCache
    mask: Tensor
    last: Tensor
    padded: bool

    @property
    def rows(self) -> int:
        return int(self.mask.shape[0])


def prefill(
    model: Any, prompts: list[list[int]], pad: int, device: torch.device
) -> tuple[Batch, Tensor]:
    """Run the prompts, left-padded, into a new cache: the batch and each row's last logits
    (``[rows, vocab]``, float32)."""
    ids, mask = left_pad(prompts, pad)
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    config: Any = model.config
    batch = Batch(
        DynamicCache(config=config.get_text_config(decoder=True)),
        mask,
        positions[:, -1:],
        padded=not bool(mask.all()),
    )
    return batch, _forward(model, batch, ids, positions)


def step(model: Any, batch: Batch, tokens: list[int]) -> Tensor:
    """Feed each row its next token; each row's logits (``[rows, vocab]``, float32)."""
    ids = torch.tensor(tokens, device=batch.mask.device)[:, None]
    batch.mask = torch.cat([batch.mask, batch.mask.new_ones(batch.rows, 1)], dim=1)
    batch.last = batch.last + 1
    return _forward(model, batch, ids, batch.last)


def _forward(model: Any, batch: Batch, ids: Tensor, positions: Tensor) -> Tensor:
    kwargs: dict[str, Any] = {"position_ids": positions, "cache": batch.cache}
    if batch.padded:
        kwargs["attention_mask"] = batch.mask
    out = model(input_ids=ids, use_cache=True, logits_to_keep=1, **kwargs)
    return out.logits[:, -1, :].float()


def keep(batch: Batch, rows: list[int]) -> None:
    """Only ``rows`` (in this order) stay in the batch; the columns that are padding in every
    row that stays are dropped where the cache allows (:func:`can_join`): a batch that rows keep
    joining never ends, and its width would otherwise grow by one column every step it runs."""
    index = torch.tensor(rows, device=batch.mask.device)
    batch.cache.batch_select_indices(index)
    batch.mask, batch.last = batch.mask[index], batch.last[index]
    first = int(batch.mask.any(dim=0).int().argmax())  # rows' real tokens end together
    if first > 0 and can_join(batch):
        layers: list[Any] = list(batch.cache.layers)
        for layer in layers:
            layer.keys = layer.keys[..., first:, :]
            layer.values = layer.values[..., first:, :]
        batch.mask = batch.mask[:, first:]


def can_join(batch: Batch) -> bool:
    """Whether rows can join this batch: every cache layer a plain growing one (a sliding
    window's cache, as Gemma 3's local layers keep, drops columns, so it cannot be re-padded)."""
    layers: list[Any] = list(getattr(batch.cache, "layers", None) or [])
    return bool(layers) and all(
        type(layer) is DynamicLayer and layer.get_seq_length() == batch.mask.shape[1]
        for layer in layers
    )


def join(batch: Batch, other: Batch) -> None:
    """Append ``other``'s rows to ``batch`` (both :func:`can_join`): the shorter side's cache
    and mask are left-padded with masked columns to the longer one's length."""
    width = max(batch.mask.shape[1], other.mask.shape[1])
    pairs: list[tuple[Any, Any]] = list(zip(batch.cache.layers, other.cache.layers, strict=True))
    for mine, theirs in pairs:
        keys, values = theirs.keys, theirs.values
        assert mine.keys is not None and mine.values is not None
        assert keys is not None and values is not None
        mine.keys = torch.cat([_left(mine.keys, width), _left(keys, width)])
        mine.values = torch.cat([_left(mine.values, width), _left(values, width)])
    batch.mask = torch.cat([_left(batch.mask, width), _left(other.mask, width)])
    batch.last = torch.cat([batch.last, other.last])
    batch.padded = True


def _left(x: Tensor, width: int) -> Tensor:
    """``x`` with zero columns before its own along its sequence axis (the last of a mask
    ``[rows, columns]``, the second last of keys and values ``[rows, heads, columns, dim]``)."""
    axis = x.dim() - 1 if x.dim() == 2 else x.dim() - 2
    missing = width - x.shape[axis]
    if missing == 0:
        return x
    shape = list(x.shape)
    shape[axis] = missing
    return torch.cat([x.new_zeros(shape), x], dim=axis)


__all__ = ["Batch", "can_join", "join", "keep", "prefill", "step"]
