"""`valuelocate.demo`: the per-layer summary against the captured neurons themselves."""

from __future__ import annotations

import pytest
import torch

from conftest import needs_stories
from valuelocate.demo import run_demo
from valuelocate.hooks import capture_activations


@needs_stories
def test_the_summary_equals_the_captured_neurons(stories_lm) -> None:  # type: ignore[no-untyped-def]
    with capture_activations(stories_lm.model, scope="all") as captured:
        answer, summaries = run_demo(stories_lm, "Tom had a ball.", max_new_tokens=5)
    assert isinstance(answer, str) and answer
    assert [s.layer for s in summaries] == list(range(5))
    for s in summaries:
        values = captured.values(s.layer).double()  # [tokens, neurons]
        assert s.tokens == values.shape[0]
        assert s.mean == pytest.approx(float(values.mean()), abs=1e-9)
        assert s.max_value == pytest.approx(float(values.max()), abs=1e-6)
        assert s.active_fraction == pytest.approx(float((values > 0).double().mean()))
        assert s.top_neuron == int(values.mean(0).argmax())
    assert torch.is_grad_enabled()
