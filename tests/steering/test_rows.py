"""The server's fast path (:mod:`valuelocate.steering.rows`) against the reference, the per-row
``EditStack`` through ``edit_neurons``: every edit shape, mixed in left-padded batches (rows
steered by different edits and scopes, unsteered rows, a row that stops), on tiny models of a
gated and a plain MLP family at both sites. The logits must be equal bit for bit, at every
step: the fast path computes the same floating-point operations on the same values."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch
from torch import Tensor, nn
from transformers import DynamicCache

from valuelocate.architectures import arch_for, decoder_layers, site_module
from valuelocate.comparison.linear import vector_edit
from valuelocate.hooks import Edit, NeuronEdit, count_hooks, edit_neurons
from valuelocate.selection import NeuronSet, Selection
from valuelocate.steering.compose import EditStack, compose
from valuelocate.steering.dynamic import DynamicEdit, steering_edit
from valuelocate.steering.mean_diff import MeanDiffEdit, band_edit, selected_edit
from valuelocate.steering.rows import RowSteering, edit_parts, steer_rows
from valuelocate.steering.simple import add_edit, scale_edit

from tiny_models import build, left_padded_batch

SHAPE = (3, 96)
STOP = 2  # eos of the tiny models
PROMPTS = [
    [5, 17, 33, 41, 8, 9],
    [12, 60, 7],
    [44, 45, 46, 47],
    [9, 9, 10, 11, 12, 13, 14],
    [70, 3],
    [30, 31, 32, 33, 34],
    [81, 82, 83],
    [20, 21, 22, 23, 24, 25],
    [50, 51],
    [60, 61, 62, 63],
]
# Tokens fed after the prefill (the same for both paths, whatever the logits): row 3 is fed
# the stop token at the second step, so its later positions are out of scope.
FED = [[(7 * r + 3 * s) % 90 + 10 for r in range(len(PROMPTS))] for s in range(5)]
FED[1][3] = STOP


def _set(pole: str, layers: list[int], indices: list[int]) -> NeuronSet:
    k = len(layers)
    return NeuronSet(
        pole,  # type: ignore[arg-type]
        "hand",
        {},
        SHAPE,
        torch.tensor(layers),
        torch.tensor(indices),
        torch.linspace(0.1, 0.6, k, dtype=torch.float64),  # d
        torch.linspace(0.3, 0.9, k, dtype=torch.float64),  # p
        torch.linspace(0.5, 2.0, k, dtype=torch.float64),  # q95
        torch.zeros(k, dtype=torch.float64),
    )


# Ten or more pushed neurons a layer, so that the dynamic rule's draws (90%) leave some out.
SELECTION = Selection(
    _set("affirm", [0] * 10 + [1] * 12 + [2] * 11, [*range(40, 50), *range(1, 13), *range(60, 71)]),
    _set("oppose", [0, 1, 2, 2], [2, 20, 11, 12]),
)
OTHER = Selection(_set("affirm", [1, 1, 2], [20, 21, 22]), _set("oppose", [0, 2, 2], [30, 31, 90]))


def _diff(seed: int) -> Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _edits(site: str) -> list[tuple[Edit | None, str]]:
    """Every shape, fresh (the dynamic edits restart their draws), with each row's scope."""
    located = vector_edit(
        [0, 1, 2], 96, torch.tensor([3, 96 + 40, 96 + 41, 192 + 7]), _diff(1).flatten()[:4]
    )
    duplicated = MeanDiffEdit(
        {1: torch.tensor([4, 4, 6])},
        {1: torch.tensor([0.5, 0.5, -1.0], dtype=torch.float64)},
        2.0,
        site,  # type: ignore[arg-type]
    )
    made: list[tuple[Edit | None, str]] = [
        (selected_edit(_diff(2), {0: [1, 2, 3], 2: [5, 6]}, gamma=3.0, site=site), "all"),  # type: ignore[arg-type]
        (None, "all"),
        (steering_edit(SELECTION, "affirm", 2.0, seed=3, site=site), "generated"),  # type: ignore[arg-type]
        (
            compose(
                [
                    band_edit(_diff(3), [1], gamma=0.7, site=site),  # type: ignore[arg-type]
                    selected_edit(_diff(4), {1: [3, 5], 2: [8]}, gamma=-2.0, site=site),  # type: ignore[arg-type]
                ]
            ),
            "all",
        ),
        (
            compose(
                [
                    steering_edit(SELECTION, "oppose", 1.5, seed=5, site=site),  # type: ignore[arg-type]
                    steering_edit(OTHER, "affirm", 3.0, seed=6, site=site),  # type: ignore[arg-type]
                ]
            ),
            "all",
        ),
        (add_edit(SELECTION.affirm, 0.7, site=site), "prompt"),  # type: ignore[arg-type]
        (scale_edit(OTHER.oppose, 2.5, site=site), "all"),  # type: ignore[arg-type]
        (duplicated, "generated"),
        (None, "generated"),
        (MeanDiffEdit(located.indices, located.deltas, 4.0, site, "located"), "all"),  # type: ignore[arg-type]
    ]
    return made


def _decode(model: nn.Module, edits, scopes, fast: bool | None, site: str, rows=None):  # type: ignore[no-untyped-def]
    """Prefill, then len(FED) decoding calls: the logits of every call, and every layer's site
    tensor at every call. ``fast``: the fast path, ``False``: the reference, ``None``: no
    steering at all; ``rows``: those prompts only (default all)."""
    rows = list(range(len(PROMPTS))) if rows is None else rows
    batch = left_padded_batch([PROMPTS[r] for r in rows])
    fed = [[step[r] for r in rows] for step in FED]
    ids, mask = batch["input_ids"], batch["attention_mask"]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache(config=model.config)
    out: list[Tensor] = []
    seen: list[Tensor] = []

    def run(before_decode: Callable[[], None]) -> None:
        nonlocal ids, mask, positions
        step_ids = ids
        for s in range(len(fed) + 1):
            logits = model(
                input_ids=step_ids,
                attention_mask=mask,
                position_ids=positions,
                cache=cache,
                use_cache=True,
            ).logits[:, -1]
            out.append(logits)
            if s == len(fed):
                break
            before_decode()
            step_ids = torch.tensor(fed[s])[:, None]
            mask = torch.cat([mask, mask.new_ones(len(rows), 1)], dim=1)
            positions = positions[:, -1:] + 1

    with torch.no_grad():
        if fast is None:
            with _recording(model, site, seen):
                run(lambda: None)
        elif fast:
            steering = RowSteering(edits, scopes, site=site)  # type: ignore[arg-type]
            with steer_rows(model, steering, stop_token_ids=[STOP]), _recording(model, site, seen):
                run(lambda: None)
        else:
            stack = EditStack(edits, rows=1, scopes=scopes, site=site)  # type: ignore[arg-type]
            with edit_neurons(model, stack, scope="all", stop_token_ids=[STOP]) as tracker:
                stack.tracker = tracker

                def decode() -> None:
                    stack.phase = "decode"

                with _recording(model, site, seen):
                    run(decode)
    return out, seen


@contextmanager
def _recording(model: nn.Module, site: str, seen: list[Tensor]) -> Iterator[None]:
    """Keep a copy of every layer's site tensor as the model uses it (registered after the
    edit's hooks, so it sees the edited values), at every position, padding included."""
    spec = arch_for(model)
    handles = []
    for layer in decoder_layers(model, spec):
        module = site_module(layer, site, spec)  # type: ignore[arg-type]
        if site == "act":
            handles.append(module.register_forward_hook(lambda _m, _a, o: seen.append(o.clone())))
        else:
            handles.append(
                module.register_forward_pre_hook(lambda _m, a: seen.append(a[0].clone()))
            )
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@pytest.mark.parametrize("family", ["llama", "gpt2"])
@pytest.mark.parametrize("site", ["act", "down_in"])
def test_fast_path_equals_the_reference_bit_for_bit(family: str, site: str) -> None:
    model = build(family)
    fast_edits = _edits(site)
    ref_edits = _edits(site)
    scopes = [s for _, s in fast_edits]
    fast, fast_sites = _decode(model, [e for e, _ in fast_edits], scopes, True, site)
    ref, ref_sites = _decode(model, [e for e, _ in ref_edits], scopes, False, site)
    plain, _ = _decode(model, [None] * len(PROMPTS), scopes, None, site)
    for step, (a, b) in enumerate(zip(fast, ref, strict=True)):
        assert torch.equal(a, b), f"step {step}: rows {(a != b).any(-1).nonzero().flatten()}"
    # The edited site tensors themselves, at every position (padding and stopped rows too).
    assert len(fast_sites) == len(ref_sites) == 3 * (len(FED) + 1)
    for k, (a, b) in enumerate(zip(fast_sites, ref_sites, strict=True)):
        assert torch.equal(a, b), f"call {k // 3}, layer {k % 3}"
    # Every steered row's edit does something; the unsteered rows are the plain batch's.
    for row, (edit, _) in enumerate(fast_edits):
        same = all(torch.equal(a[row], p[row]) for a, p in zip(fast, plain, strict=True))
        assert same == (edit is None), row
    # Each dynamic part drew exactly as often, in the same sequence, on both paths.
    for (f, _), (r, _) in zip(fast_edits, ref_edits, strict=True):
        for fp, rp in zip(edit_parts(f), edit_parts(r), strict=True):
            if isinstance(fp, DynamicEdit):
                assert torch.equal(fp.draw(50), rp.draw(50))  # type: ignore[attr-defined]
    assert count_hooks(model) == 0


def test_float64_and_a_lone_row_are_exact_too() -> None:
    model = build("llama", dtype=torch.float64)
    fast_edits, ref_edits = _edits("act"), _edits("act")
    scopes = [s for _, s in fast_edits]
    fast = _decode(model, [e for e, _ in fast_edits], scopes, True, "act")
    ref = _decode(model, [e for e, _ in ref_edits], scopes, False, "act")
    for a, b in zip(fast[0] + fast[1], ref[0] + ref[1], strict=True):
        assert torch.equal(a, b)
    # One row alone (a composed dynamic edit), as a request served by itself.
    alone = [_edits("act")[4][0]], [_edits("act")[4][0]]
    fast = _decode(model, alone[0], ["all"], True, "act", rows=[4])
    ref = _decode(model, alone[1], ["all"], False, "act", rows=[4])
    for a, b in zip(fast[0] + fast[1], ref[0] + ref[1], strict=True):
        assert torch.equal(a, b)


class _Counting:
    """A plain edit (no fast path) that counts its calls per layer and changes nothing."""

    site = "act"

    def __init__(self, layers: list[int]) -> None:
        self._layers = layers
        self.calls: dict[int, int] = {}

    def layers(self) -> list[int]:
        return self._layers

    def reset(self) -> None:
        """Nothing to restart."""

    def edit(self, layer: int, values: Tensor) -> tuple[Tensor, Tensor]:
        self.calls[layer] = self.calls.get(layer, 0) + 1
        idx = torch.tensor([0])
        return idx, values.index_select(-1, idx)


def test_hooks_only_where_a_row_edits_and_no_work_out_of_scope() -> None:
    model = build("llama")
    batch = left_padded_batch(PROMPTS[:3])
    with torch.no_grad(), steer_rows(model, RowSteering([None] * 3, ["all"] * 3)):
        assert count_hooks(model) == 0, "an unsteered batch installs nothing"
        model(**batch)
    counting = _Counting([1])
    steering = RowSteering([None, counting, None], ["all", "generated", "all"])
    assert steering.layers == [1]
    with torch.no_grad(), steer_rows(model, steering):
        assert count_hooks(model) == 2  # the root pre-hook and layer 1's site hook
        assert len(model.model.layers[1].mlp.act_fn._forward_hooks) == 1
        model(**batch)  # a prefill: the only steered row's scope is `generated`
        assert counting.calls == {}
        assert steering._call is not None and steering._call.active == ()
    assert count_hooks(model) == 0


def test_autograd_gets_a_copy_not_an_in_place_edit() -> None:
    model = build("llama")
    batch = left_padded_batch(PROMPTS[:2])
    edits = [selected_edit(_diff(2), {0: [1, 2], 1: [3]}, gamma=3.0), None]
    with steer_rows(model, RowSteering(edits, ["all", "all"])):
        logits = model(**batch).logits
    logits.sum().backward()  # an in-place edit of a saved activation would raise here
    with torch.no_grad(), edit_neurons(model, EditStack(edits, rows=1), scope="all"):
        reference = model(**batch).logits
    assert torch.equal(logits.detach(), reference)


def test_additive_parts_say_when_they_are_exact() -> None:
    edit = MeanDiffEdit(
        {0: torch.tensor([1, 3]), 1: torch.tensor([2, 2])},
        {0: torch.tensor([0.1, 0.2], dtype=torch.float64), 1: torch.ones(2, dtype=torch.float64)},
        1.5,
    )
    idx, delta = edit.additive(0, torch.float32, torch.device("cpu"))  # type: ignore[misc]
    assert idx.tolist() == [1, 3] and torch.equal(
        delta, (1.5 * torch.tensor([0.1, 0.2], dtype=torch.float64)).float()
    )
    assert edit.additive(0, torch.float32, torch.device("cpu"))[0] is idx  # type: ignore[index]
    assert edit.additive(1, torch.float32, torch.device("cpu")) is None  # repeated indices
    added = add_edit(SELECTION.affirm, 0.7)
    assert added.additive(1, torch.float32, torch.device("cpu")) is not None
    assert added.additive(1, torch.bfloat16, torch.device("cpu")) is None
    assert NeuronEdit({0: [1]}, lambda a: a + 0.7).additive(0, torch.float32, "cpu") is None  # type: ignore[arg-type]
