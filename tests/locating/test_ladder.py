"""The ladder's forward passes on the real 260k-parameter Llama: per-item differences against
one plain forward per answer, the search-split-only rule, and the ladders of every dimension
against the pairs contrast's own statistics."""

from __future__ import annotations

import pytest
import torch

from forced_choice_items import Item
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.locating.contrast import pair_stats
from valuelocate.locating.ladder import (
    DEFAULT_FRACTIONS,
    build_ladder,
    default_band,
    item_differences,
    locate_ladders,
)
from valuelocate.prompting import answer_ids, context_ids
from valuelocate.steering import ladder as steering_ladder

from tiny_models import STORIES

pytestmark = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")

ITEMS = [
    Item("a", "conservation", "A girl found a box.", "She kept it safe at home.", "She ran off."),
    Item(
        "b", "conservation", "The dog saw the park.", "He stayed.", "He ran to play with the ball."
    ),
    Item("c", "conservation", "Tom had a kite.", "He gave it to Mom.", "He flew it very high."),
]


def _answer_means(lm, ids: list[int], tail: int, layers: list[int]) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """One unpadded forward with a plain forward hook on each layer's activation module: the
    mean over the last ``tail`` positions, ``[layers, neurons]`` float64."""
    seen: dict[int, torch.Tensor] = {}
    handles = [
        lm.model.model.layers[layer].mlp.act_fn.register_forward_hook(
            lambda _m, _i, out, _l=layer: seen.__setitem__(_l, out[0].detach().double())
        )
        for layer in layers
    ]
    try:
        with torch.no_grad():
            lm.model(input_ids=torch.tensor([ids]))
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack([seen[layer][-tail:].mean(0) for layer in layers])


def test_the_default_band_is_the_middle_of_the_model() -> None:
    assert default_band(30) == tuple(range(8, 23))
    assert default_band(5) == (1, 2, 3, 4)
    assert default_band(1) == (0,)
    assert steering_ladder.DEFAULT_FRACTIONS == DEFAULT_FRACTIONS == (0.001, 0.003, 0.01, 0.03,
                                                                      0.1)  # fmt: skip


@pytest.mark.parametrize("chat_template", [True, False])
def test_item_differences_equal_one_forward_per_answer(stories_lm, chat_template) -> None:  # type: ignore[no-untyped-def]
    layers = [3, 1, 4]  # the output follows the order asked for
    diffs = item_differences(stories_lm, ITEMS, layers, chat_template=chat_template, batch_size=2)
    assert diffs.shape == (3, 3, 172) and diffs.dtype == torch.float32
    for i, item in enumerate(ITEMS):
        context = context_ids(stories_lm, item.situation, chat_template=chat_template)
        means = {}
        for pole in ("affirm", "oppose"):
            answer = answer_ids(stories_lm, getattr(item, pole), chat_template=chat_template)
            means[pole] = _answer_means(stories_lm, context + answer, len(answer), layers)
        expected = (means["affirm"] - means["oppose"]).float()
        torch.testing.assert_close(diffs[i], expected, rtol=0, atol=2e-5)
    assert diffs.abs().sum() > 0


def test_only_search_items_locate(stories_lm) -> None:  # type: ignore[no-untyped-def]
    for split in ("dev", "test"):
        held_out = [*ITEMS, Item("h", "conservation", "x", "y", "z", split=split)]
        with pytest.raises(ValueError, match=f"'h' is of the {split} split: only search items"):
            item_differences(stories_lm, held_out, [1])
    with pytest.raises(ValueError, match="repeat"):
        item_differences(stories_lm, ITEMS, [1, 1])


def test_locate_ladders_rank_the_search_items_by_the_pairs_contrast(stories_lm) -> None:  # type: ignore[no-untyped-def]
    messages: list[str] = []
    ladders, diffs = locate_ladders(stories_lm, ("conservation",), progress=messages.append)
    items = load_forced_choice(dimension="conservation", split="search")
    assert messages == [f"ladder conservation: {len(items)} items"]
    ladder = ladders["conservation"]
    assert ladder.layers == (1, 2, 3, 4) and ladder.total_neurons == 860
    assert ladder.sizes == (1, 3, 9, 26, 86, 688) and ladder.items == len(items)
    # The differences are item_differences' on the search split, and the ladder is built
    # from them.
    assert torch.equal(diffs["conservation"], item_differences(stories_lm, items, (1, 2, 3, 4)))
    again = build_ladder(
        diffs["conservation"], dimension="conservation", layers=(1, 2, 3, 4), total_neurons=860
    )
    assert torch.equal(again.order, ladder.order) and torch.equal(again.delta, ladder.delta)
    # delta is the pairs contrast's mean difference over the band: what the mean-diff rule
    # adds at gamma 1 (each item's answer mean, averaged over items, affirm minus oppose).
    stats = pair_stats(stories_lm, items)
    rule = (stats["affirm"].prompt_mean - stats["oppose"].prompt_mean)[1:5].flatten()
    torch.testing.assert_close(ladder.delta, rule, rtol=0, atol=1e-5)
    # Another band and fractions.
    other, _ = locate_ladders(stories_lm, ("conservation",), band=(4, 2), fractions=(0.01,))
    assert other["conservation"].layers == (2, 4)
    assert other["conservation"].sizes == (9, 344) and other["conservation"].labels == (
        "1%",
        "band",
    )
