"""The vLLM worker's token bookkeeping (:mod:`valuelocate.locating.vllm_worker`), which runs
without vLLM: which of a step's flat tokens each locating scope reads."""

from __future__ import annotations

import torch

from valuelocate.locating.vllm_worker import StepTokens, scope_mask


def test_scope_mask_keeps_our_tokens_of_the_scope() -> None:
    # Five tokens: two of row 0's prompt, one not ours, then two generated tokens.
    step = StepTokens(
        rows=torch.tensor([0, 0, -1, 1, 0]),
        decode=torch.tensor([False, False, False, True, True]),
    )
    assert scope_mask(step, "all").tolist() == [True, True, False, True, True]
    assert scope_mask(step, "prompt").tolist() == [True, True, False, False, False]
    assert scope_mask(step, "generated").tolist() == [False, False, False, True, True]
