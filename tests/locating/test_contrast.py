"""Forward-only contrast sources: statistics equal brute-force per-text recomputations, and
selection methods apply to them unchanged."""

from __future__ import annotations

import pytest
import torch

from forced_choice_items import Item
from valuelocate.hooks import capture_activations, edit_neurons
from valuelocate.locating.contrast import description_stats, pair_stats, text_stats
from valuelocate.models import load_model
from valuelocate.prompting import answer_ids, context_ids
from valuelocate.selection import get_method
from valuelocate.steering.mean_diff import mean_difference, selected_edit

from tiny_models import STORIES

needs_stories = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")


ITEMS = [
    Item("a", "conservation", "A girl found a box.", "She kept it safe at home.", "She ran off."),
    Item(
        "b", "conservation", "The dog saw the park.", "He stayed.", "He ran to play with the ball."
    ),
    Item("c", "conservation", "Tom had a kite.", "He gave it to Mom.", "He flew it very high."),
]
TEXTS = {
    "affirm": ["I like the old ways.", "Keep things as they were, safe and calm."],
    "oppose": ["New things are fun!", "I want to try a big new trip.", "Change is good."],
}


@pytest.fixture(scope="module")
def stories():
    return load_model(str(STORIES))


def _act_means(lm, rows: list[tuple[list[int], int]]) -> torch.Tensor:
    """Per row (ids, counted tail length): mean act over the tail, every layer -> [rows, L, N]."""
    out = []
    for ids, tail in rows:
        with torch.no_grad(), capture_activations(lm.model) as cap:
            lm.model(input_ids=torch.tensor([ids]))
        out.append(
            torch.stack([cap.values(layer)[-tail:].double().mean(0) for layer in cap.layers])
        )
    return torch.stack(out)


@needs_stories
def test_description_stats_equal_per_text_means(stories):
    stats = description_stats(stories, "conservation", descriptions=TEXTS)
    for pole, texts in TEXTS.items():
        rows = []
        for text in texts:
            ids = stories.tokenizer(text)["input_ids"]
            rows.append((ids, len(ids)))
        expected = _act_means(stories, rows).mean(0)  # [L, N]
        assert torch.allclose(stats[pole].prompt_mean, expected, atol=1e-5)
        assert int(stats[pole].prompt_count[0]) == len(texts)


@needs_stories
def test_pair_stats_count_answer_tokens_only(stories):
    stats = pair_stats(stories, ITEMS, batch_size=2)
    for pole in ("affirm", "oppose"):
        rows = []
        for item in ITEMS:
            answer = answer_ids(stories, getattr(item, pole))
            rows.append((context_ids(stories, item.situation) + answer, len(answer)))
        assert int(stats[pole].n[0]) == sum(tail for _, tail in rows)
        expected = _act_means(stories, rows).mean(0)
        assert torch.allclose(stats[pole].prompt_mean, expected, atol=1e-5)


@needs_stories
@pytest.mark.parametrize("split", ["dev", "test"])
def test_pair_stats_refuse_dev_and_test_items(stories, split):
    # Only search items locate: dev chooses, test judges.
    with pytest.raises(ValueError, match="dev and test splits never locate"):
        pair_stats(stories, [Item("t", "conservation", "x", "y", "z", split=split)])


@needs_stories
def test_selection_applies_unchanged_and_the_edit_moves_toward_the_target(stories):
    stats = pair_stats(stories, ITEMS)
    for name in ("delta-p", "mean-diff", "cohens-d"):
        selection = get_method(name)()(stats["affirm"], stats["oppose"])
        assert selection.affirm.shape == (stats["affirm"].num_layers, stats["affirm"].neurons)
    selection = get_method("mean-diff")(top_k=20)(stats["affirm"], stats["oppose"])
    diff = mean_difference(stats["affirm"], stats["oppose"], level="token")
    chosen = selection.affirm.by_layer()
    # The planted direction: the chosen neurons are the 20 largest positive differences.
    flat = diff.flatten()
    assert set(selection.affirm.flat_index.tolist()) == set(torch.topk(flat, 20).indices.tolist())
    # Editing them toward the affirming pole on the opposing answers closes the gap there.
    edit = selected_edit(diff, chosen, gamma=1.0)
    with edit_neurons(stories.model, edit, scope="all"):
        moved = pair_stats(stories, ITEMS)["oppose"]
    gap_before = (stats["affirm"].mean - stats["oppose"].mean).flatten()
    gap_after = (stats["affirm"].mean - moved.mean).flatten()
    idx = selection.affirm.flat_index
    first_layer = int(selection.affirm.layer.min())
    in_first = selection.affirm.layer == first_layer  # no upstream edit reaches these
    assert torch.allclose(
        gap_after[idx[in_first]], torch.zeros(int(in_first.sum()), dtype=torch.float64), atol=1e-5
    )
    assert gap_after[idx].abs().sum() < gap_before[idx].abs().sum()


@needs_stories
def test_locate_with_the_descriptions_contrast_uses_the_descriptions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``locate --contrast descriptions``: each pole's statistics are exactly the statistics
    of its descriptions, the manifest records the source, and no text is generated."""
    import json

    from safetensors.torch import load_file

    from valuelocate.data import load_descriptions
    from valuelocate.locating import LocateOptions, locate
    from valuelocate.models import load_model
    from valuelocate.stats import NeuronStats

    lm = load_model(str(STORIES))
    options = LocateOptions(
        model=str(STORIES),
        dimensions=("conservation",),
        contrast="descriptions",
        batch_size=16,
        method_params={"min_required": 5, "threshold": 0.6},
    )
    run = locate(options, tmp_path / "run", lm=lm)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["options"]["contrast"] == "descriptions"
    for pole in ("affirm", "oppose"):
        texts = [d.text for d in load_descriptions(dimension="conservation", pole=pole)]
        expected = text_stats(lm, texts, batch_size=16)
        got = NeuronStats.load(tmp_path / "run" / "stats" / f"conservation.{pole}.safetensors")
        assert torch.equal(got.n, expected.n) and torch.equal(got.c, expected.c)
        assert torch.allclose(got.mean, expected.mean, rtol=0, atol=1e-12)
    assert run.selections["conservation"].pole("affirm").layer.numel() >= 5
    assert load_file(tmp_path / "run" / "neurons.safetensors")
