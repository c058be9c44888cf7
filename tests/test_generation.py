"""`valuelocate.generation`, the one answer generator: stacked generation equals separate
calls, the stacked edit forwards ``site`` and ``reset`` (issue 9, bug 1), seeded sampling."""

from __future__ import annotations

import pytest
import torch

from conftest import needs_stories
from valuelocate.generation import (
    GenerationConfig,
    generate_answers,
    generate_stacked,
)
from valuelocate.hooks import NeuronEdit, capture_activations
from valuelocate.selection import NeuronSet, Selection
from valuelocate.steering.compose import EditStack
from valuelocate.steering.dynamic import steering_edit

EDIT = NeuronEdit({1: [3, 40, 100], 3: [7]}, lambda a: a + 2.0)
PROMPTS = ["Tom had a ball.", "The sun was hot and the"]


@needs_stories
@pytest.mark.parametrize("share_prefill", [True, False])
def test_stacked_generation_equals_separate_generations(stories_lm, share_prefill) -> None:  # type: ignore[no-untyped-def]
    config = GenerationConfig(max_new_tokens=5, batch_size=4)  # 2 settings a batch
    other = NeuronEdit({2: [0, 1, 2]}, lambda a: a - 1.5)
    edits = [None, EDIT, other]
    stacked = generate_stacked(stories_lm, PROMPTS, edits, config=config,
                               share_prefill=share_prefill)  # fmt: skip
    separate = [generate_answers(stories_lm, PROMPTS, config=config, edit=e) for e in edits]
    assert stacked == separate
    assert stacked[0] != stacked[1] or stacked[0] != stacked[2], "the edits do something"


def _set(pole: str, indices: list[int]) -> NeuronSet:
    k = len(indices)
    ones = torch.ones(k, dtype=torch.float64)
    return NeuronSet(pole, "hand", {}, (5, 172), torch.full((k,), 2), torch.tensor(indices),  # type: ignore[arg-type]
                     ones * 0.5, ones * 0.5, ones, ones)  # fmt: skip


SELECTION = Selection(_set("affirm", [1, 2, 3, 4]), _set("oppose", [5, 6]))


def test_stacked_edit_forwards_site_and_reset() -> None:
    down = steering_edit(SELECTION, "affirm", 1.0, fraction=0.5, seed=3, site="down_in")
    stacked = EditStack([None, down, None], rows=2)
    assert stacked.site == "down_in"
    assert EditStack([None, None], rows=2).site == "act"
    assert list(stacked.layers()) == [2]
    first = [down.draw(4) for _ in range(3)]
    stacked.reset()  # restarts the sub-edit's seeded draws
    assert all(torch.equal(a, down.draw(4)) for a in first)
    at_act = steering_edit(SELECTION, "oppose", 1.0, site="act")
    with pytest.raises(ValueError, match="share one site"):
        EditStack([down, at_act], rows=2)


@needs_stories
def test_stacked_down_in_edit_changes_the_down_input_and_leaves_act_alone(stories_lm) -> None:  # type: ignore[no-untyped-def]
    """Two blocks of the same prompts, unedited and edited at ``down_in`` (as evaluate
    answers a run located there): at the first generated token the down projection of the
    edited block receives exactly the push on the chosen neuron, and ``act`` is untouched.
    Edited at ``act`` instead, the push would be multiplied by the ``up`` branch."""
    layer, neuron, push = 2, 10, 5.0
    edit = NeuronEdit({layer: [neuron]}, lambda a: a + push, site="down_in")
    down_proj = stories_lm.model.model.layers[layer].mlp.down_proj
    received: list[torch.Tensor] = []  # what the projection multiplied, per forward call
    handle = down_proj.register_forward_hook(lambda _m, args, _o: received.append(args[0][:, -1]))
    config = GenerationConfig(max_new_tokens=3)
    try:
        with capture_activations(stories_lm.model, site="act", layers=[layer]) as act:
            with capture_activations(stories_lm.model, site="down_in", layers=[layer]) as raw:
                generate_stacked(stories_lm, PROMPTS, [None, edit], config=config)
    finally:
        handle.remove()
    # Calls: the shared prefill, the last prompt token (not edited: scope generated), then the
    # first generated token, the same for both blocks.
    step = 2
    n = len(PROMPTS)
    act_rows, raw_rows = act.chunks[layer][step], raw.chunks[layer][step]  # [2n, neurons]
    assert act_rows.shape == (2 * n, 172)
    # The two blocks are rows of one batch: a multi-threaded float32 matmul may sum a row in
    # another order at another batch position (2e-6 seen on a 2-thread AMD EPYC), so the
    # tolerance is float32 reordering's, far below the push of 5.
    close = {"rtol": 1e-5, "atol": 1e-5}
    torch.testing.assert_close(act_rows[n:], act_rows[:n], **close)
    torch.testing.assert_close(raw_rows[n:], raw_rows[:n], **close)
    got = received[step].float()
    torch.testing.assert_close(got[:n], raw_rows[:n], **close)
    expected = raw_rows[n:].clone()
    expected[:, neuron] += push
    torch.testing.assert_close(got[n:], expected, **close)


def test_config_is_validated() -> None:
    GenerationConfig().validate()
    for bad, flag in (
        (GenerationConfig(max_new_tokens=0), "--max-new-tokens"),
        (GenerationConfig(temperature=-0.1), "--temperature"),
        (GenerationConfig(repetition_penalty=0.0), "--repetition-penalty"),
        (GenerationConfig(scope="answer"), "scope"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError, match=flag):
            bad.validate()


@needs_stories
def test_sampling_is_seeded_and_leaves_the_global_rng_alone(stories_lm) -> None:  # type: ignore[no-untyped-def]
    def answers(seed: int) -> list[str]:
        config = GenerationConfig(max_new_tokens=8, temperature=1.0, seed=seed)
        return generate_answers(stories_lm, PROMPTS, config=config)

    state = torch.random.get_rng_state()
    first = answers(0)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert answers(0) == first
    assert answers(1) != first
    greedy = GenerationConfig(max_new_tokens=8)
    assert generate_answers(stories_lm, PROMPTS, config=greedy) == generate_answers(
        stories_lm, PROMPTS, config=GenerationConfig(max_new_tokens=8, seed=5)
    ), "greedy answers do not depend on the seed"
