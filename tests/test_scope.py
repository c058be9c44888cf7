"""``valuelocate.scope.ScopeTracker`` on hand-made forward calls: a prefill then decoding
steps with a KV cache, left padding, and a stop token ending a row's generated scope."""

from __future__ import annotations

import pytest
import torch

from valuelocate.scope import ScopeTracker


def _call(tracker: ScopeTracker, ids: list[list[int]], attention: list[list[int]]) -> list:
    tracker.pre_hook(
        torch.nn.Identity(),
        (),
        {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(attention)},
    )
    assert tracker.mask is not None
    return tracker.mask.tolist()


def test_prefill_then_decoding_steps() -> None:
    prompt = [[0, 5, 6], [7, 8, 9]]  # row 0 is left-padded
    attention = [[0, 1, 1], [1, 1, 1]]
    prompt_only, generated = ScopeTracker("prompt"), ScopeTracker("generated", stop_token_ids=[2])
    everything = ScopeTracker("all")
    assert _call(prompt_only, prompt, attention) == [[False, True, True], [True, True, True]]
    assert _call(generated, prompt, attention) == [[False] * 3, [False] * 3]
    assert _call(everything, prompt, attention)[0] == [False, True, True]
    assert generated.prompt_length == 3
    # Decoding: one new token per row, the mask now covers past + current tokens.
    step = [[r + [1] for r in attention]]
    assert _call(prompt_only, [[3], [2]], step[0]) == [[False], [False]]
    assert _call(generated, [[3], [2]], step[0]) == [[True], [False]]  # row 1 stopped
    later = [r + [1, 1] for r in attention]
    assert _call(generated, [[4], [4]], later) == [[True], [False]]  # and stays stopped


def test_unknown_scope_and_a_hook_outside_a_call_are_refused() -> None:
    with pytest.raises(ValueError):
        ScopeTracker("everywhere")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="outside a forward call"):
        ScopeTracker("all").mask_on(torch.device("cpu"))
