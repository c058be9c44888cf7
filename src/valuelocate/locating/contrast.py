"""Forward-only contrast sources: statistics of texts that already express a pole.

Usage:

1. ``stats = description_stats(lm, "conservation")`` reads each of a pole's value
   descriptions as a user message and streams :class:`~valuelocate.stats.NeuronStats` over
   its tokens, one pass per text, no generation: ``{"affirm": stats, "oppose": stats}``.
2. ``stats = pair_stats(lm, items)`` reads the search split of the forced-choice items: the
   situation as the user's turn, then the affirming (or opposing) answer as the assistant's;
   only the answer's tokens are counted.
3. Feed the two poles' statistics to any selection method unchanged:
   ``get_method("delta-p")()(stats["affirm"], stats["oppose"])``, or to
   :func:`valuelocate.steering.mean_diff.mean_difference`.

The study's source (``generated``: answers generated with a description in context) is
``valuelocate.locating``; these two cost one forward pass per text, seconds on a CPU. The
pairs source must never see the dev or test split: :func:`pair_stats` refuses items marked dev
or test (only search items locate).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch

from valuelocate.architectures import Site, model_shape
from valuelocate.data import POLES, load_descriptions
from valuelocate.data.forced_choice import ForcedChoiceLike
from valuelocate.forward import input_device, position_ids
from valuelocate.hooks import trace_neurons
from valuelocate.models import LoadedModel
from valuelocate.prompting import answer_ids, chat_inputs, context_ids, left_pad, pad_token_id
from valuelocate.stats import NeuronStats

ContrastSource = Literal["generated", "descriptions", "pairs"]
CONTRAST_SOURCES: tuple[ContrastSource, ...] = ("generated", "descriptions", "pairs")
Progress = Callable[[str, int, int], None]  # (pole, texts done, texts total)


def _new_stats(lm: LoadedModel) -> NeuronStats:
    shape = model_shape(lm.model)
    return NeuronStats(shape.num_layers, shape.neurons_per_layer)


def text_stats(
    lm: LoadedModel,
    texts: Sequence[str],
    *,
    site: Site = "act",
    chat_template: bool = True,
    batch_size: int = 16,
    stats: NeuronStats | None = None,
) -> NeuronStats:
    """Statistics over every (non-padding) token of each text read as a user message
    (the chat template's tokens included; raw text without a template)."""
    stats = stats if stats is not None else _new_stats(lm)
    device = input_device(lm.model)
    for begin in range(0, len(texts), batch_size):
        batch = chat_inputs(
            lm.tokenizer, list(texts[begin : begin + batch_size]), chat_template=chat_template
        )
        batch = {k: v.to(device) for k, v in batch.items()}
        positions = position_ids(batch["attention_mask"])
        with torch.no_grad(), trace_neurons(lm.model, stats.add, site=site, scope="all"):
            lm.model(**batch, position_ids=positions)
        stats.end_batch()
    return stats


def description_stats(
    lm: LoadedModel,
    dimension: str,
    *,
    site: Site = "act",
    chat_template: bool = True,
    batch_size: int = 16,
    descriptions: dict[str, Sequence[str]] | None = None,
) -> dict[str, NeuronStats]:
    """Per pole, statistics of the dimension's value descriptions read as user messages.

    Args:
        lm: the model.
        dimension: one of the four.
        site: ``act`` or ``down_in``.
        chat_template: use the chat template when the tokenizer has one.
        batch_size: texts per forward.
        descriptions: ``{pole: texts}`` to use instead of the shipped descriptions.

    Returns:
        ``{"affirm": NeuronStats, "oppose": NeuronStats}``.
    """
    out = {}
    for pole in POLES:
        if descriptions is not None:
            texts = list(descriptions[pole])
        else:
            texts = [d.text for d in load_descriptions(dimension=dimension, pole=pole)]
        out[pole] = text_stats(
            lm, texts, site=site, chat_template=chat_template, batch_size=batch_size
        )
    return out


def pair_stats(
    lm: LoadedModel,
    items: Sequence[ForcedChoiceLike],
    *,
    site: Site = "act",
    chat_template: bool = True,
    batch_size: int = 16,
) -> dict[str, NeuronStats]:
    """Per pole, statistics over the answer tokens of forced-choice items.

    Each item gives one row per pole: its situation as context, then that pole's answer;
    only the answer's tokens are counted (the context is the same for both poles).

    Raises:
        ValueError: an item of the dev or test split (dev chooses, test judges; neither
            locates).
    """
    if any(getattr(item, "split", "search") in ("dev", "test") for item in items):
        raise ValueError(
            "Forced-choice items of the dev and test splits never locate; pass search items"
        )
    device = input_device(lm.model)
    pad = pad_token_id(lm.tokenizer)
    out = {}
    for pole in POLES:
        stats = _new_stats(lm)
        rows = []
        for item in items:
            context = context_ids(lm, item.situation.strip(), chat_template=chat_template)
            answer = getattr(item, pole)
            rows.append((context, answer_ids(lm, answer, chat_template=chat_template)))
        for begin in range(0, len(rows), batch_size):
            chunk = rows[begin : begin + batch_size]
            ids, mask = left_pad([context + answer for context, answer in chunk], pad)
            width = ids.shape[1]
            scope = torch.zeros((len(chunk), width), dtype=torch.bool)
            for i, (_context, answer) in enumerate(chunk):
                scope[i, width - len(answer) :] = True  # the answer's tokens only
            positions = position_ids(mask)
            scope_on = scope.to(device)

            def add_answers(
                layer: int,
                values: torch.Tensor,
                _mask: torch.Tensor,
                _on: torch.Tensor = scope_on,
                _stats: NeuronStats = stats,
            ) -> None:
                _stats.add(layer, values, _on)

            with torch.no_grad(), trace_neurons(lm.model, add_answers, site=site, scope="all"):
                lm.model(
                    input_ids=ids.to(device),
                    attention_mask=mask.to(device),
                    position_ids=positions.to(device),
                )
            stats.end_batch()
        out[pole] = stats
    return out
