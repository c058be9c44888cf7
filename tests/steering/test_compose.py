"""The per-row edit of a batch: its vectorised dynamic-rule path equals the row-by-row path bit
for bit, rows without an edit are untouched, and each row's draws follow its solo sequence."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
import torch
from torch import Tensor

import serve_fixtures as fx
from valuelocate.artifacts import load_neuron_sets
from valuelocate.hooks import count_hooks, edit_neurons
from valuelocate.prompting import chat_inputs, stop_token_ids
from valuelocate.steering.compose import EditStack
from valuelocate.steering.dynamic import DynamicEdit, steering_edit

lm, run_dir = fx.lm, fx.run_dir  # the shared fixtures

pytestmark = fx.needs_stories


class _Opaque:
    """Hides a DynamicEdit behind the plain Edit protocol, forcing the row-by-row path."""

    def __init__(self, inner: DynamicEdit) -> None:
        self.inner = inner

    def layers(self) -> Iterable[int]:
        return self.inner.layers()

    def edit(self, layer: int, values: Tensor) -> tuple[Tensor, Tensor]:
        return self.inner.edit(layer, values)


def _edits(sets, opaque: bool) -> list:  # type: ignore[no-untyped-def]
    made = [
        steering_edit(sets["conservation"], "affirm", 2.0),
        None,
        steering_edit(sets["self_enhancement"], "oppose", 3.5),
        steering_edit(sets["conservation"], "oppose", 1.0, seed=5),
    ]
    return [_Opaque(e) if opaque and e is not None else e for e in made]


def _decode(lm, edits, scopes, steps: int = 6) -> list[Tensor]:  # type: ignore[no-untyped-def]
    """Greedy steps of a left-padded batch under a per-row EditStack; the logits of every step."""
    model = lm.model
    batch = chat_inputs(lm.tokenizer, ["Once upon a time", "The cat", "Lily saw", "A big dog"])
    ids, mask = batch["input_ids"], batch["attention_mask"]
    rows = EditStack(edits, rows=1, scopes=scopes, site="act")
    out_logits = []
    with (
        torch.no_grad(),
        edit_neurons(
            model, rows, scope="all", stop_token_ids=stop_token_ids(model, lm.tokenizer)
        ) as tracker,
    ):
        rows.tracker = tracker
        from transformers import DynamicCache

        cache = DynamicCache(config=model.config)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        step_ids = ids
        for _ in range(steps):
            logits = model(
                input_ids=step_ids,
                attention_mask=mask,
                position_ids=positions,
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
            ).logits[:, -1]
            out_logits.append(logits)
            rows.phase = "decode"
            step_ids = logits.argmax(-1, keepdim=True)
            mask = torch.cat([mask, mask.new_ones(len(edits), 1)], dim=1)
            positions = positions[:, -1:] + 1
    return out_logits


@pytest.mark.parametrize("scopes", [["generated"] * 4, ["all", "prompt", "generated", "all"]])
def test_vectorised_path_equals_row_by_row_bit_for_bit(lm, run_dir, scopes) -> None:  # type: ignore[no-untyped-def]
    sets = load_neuron_sets(run_dir)
    fast = _decode(lm, _edits(sets, opaque=False), scopes)
    slow = _decode(lm, _edits(sets, opaque=True), scopes)
    plain = _decode(lm, [None] * 4, scopes)
    for a, b in zip(fast, slow, strict=True):
        assert torch.equal(a, b)
    # Row 1 has no edit: its logits are the unedited batch's, bit for bit.
    assert all(torch.equal(a[1], p[1]) for a, p in zip(fast, plain, strict=True))
    # The edits do something.
    assert not all(torch.equal(a[0], p[0]) for a, p in zip(fast, plain, strict=True))
    assert count_hooks(lm.model) == 0


def test_each_row_draws_as_it_would_alone(lm, run_dir) -> None:  # type: ignore[no-untyped-def]
    sets = load_neuron_sets(run_dir)
    edits = _edits(sets, opaque=False)
    _decode(lm, edits, ["generated"] * 4, steps=6)
    # Alone, with scope generated, an edit draws nothing at the prefill and then once per
    # layer (in layer order) at each of the 5 decoding calls; the batch must leave each row's
    # generator exactly there.
    for edit in (e for e in edits if e is not None):
        alone = DynamicEdit(edit.plans, edit.gamma, edit.fraction, edit.seed)
        for _ in range(5):
            for layer in sorted(alone.plans):
                alone.draw(int(alone.plans[layer].push_index.numel()))
        assert torch.equal(edit.draw(64), alone.draw(64))
