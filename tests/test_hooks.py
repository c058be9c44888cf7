"""Oracle tests of the neuron hooks on a tiny random model of every supported family."""

from __future__ import annotations

import pytest
import torch

from valuelocate.hooks import (
    NeuronEdit,
    capture_activations,
    count_hooks,
    edit_neurons,
    identity_edit,
    trace_neurons,
)
from valuelocate.steering.simple import set_value_edit

from tiny_models import FAMILIES, PAD_ID, build, left_padded_batch, manual_act, mlp_module

FAMILY_NAMES = sorted(FAMILIES)
ROWS = [[5, 17, 33, 41, 8, 9], [12, 60, 7], [3, 4, 90, 91, 44]]


def _batch() -> dict[str, torch.Tensor]:
    return left_padded_batch(ROWS)


def _logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return model(**batch).logits


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_identity_edit_leaves_logits_bit_identical(family: str) -> None:
    model = build(family)
    batch = _batch()
    plain = _logits(model, batch)
    n = model.config.num_hidden_layers
    width = mlp_module(model, 0)
    del width
    everything = {layer: list(range(96)) for layer in range(n)}
    for site in ("act", "down_in"):
        with edit_neurons(model, identity_edit(everything), site=site, scope="all"):
            edited = _logits(model, batch)
        assert torch.equal(plain, edited), f"{family}/{site}: identity edit changed logits"
    with capture_activations(model, scope="all"):
        captured = _logits(model, batch)
    assert torch.equal(plain, captured)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_captured_act_equals_manual_recomputation(family: str) -> None:
    model = build(family)
    batch = _batch()
    mask = batch["attention_mask"].bool()
    n_layers = model.config.num_hidden_layers
    inputs: dict[int, torch.Tensor] = {}
    outputs: dict[int, torch.Tensor] = {}
    handles = []
    for layer in range(n_layers):
        mlp = mlp_module(model, layer)

        def keep(_m, args, out, _layer=layer):  # type: ignore[no-untyped-def]
            inputs[_layer] = args[0].detach()
            outputs[_layer] = out.detach()

        handles.append(mlp.register_forward_hook(keep))
    try:
        with capture_activations(model, scope="all") as cap:
            _logits(model, batch)
    finally:
        for h in handles:
            h.remove()
    for layer in range(n_layers):
        expected = manual_act(model, layer, inputs[layer])  # [batch, seq, neurons]
        got = cap.values(layer)  # [tokens, neurons], float32
        torch.testing.assert_close(got, expected[mask], rtol=1e-6, atol=1e-6)
        # The hooked tensor really is what the MLP feeds forward: rebuild its output.
        mlp = mlp_module(model, layer)
        x = inputs[layer]
        act = manual_act(model, layer, x)
        if family == "gpt2":
            rebuilt = mlp.c_proj(act)
        elif family == "gpt_neox":
            rebuilt = mlp.dense_4h_to_h(act)
        elif family == "phi3":
            rebuilt = mlp.down_proj(mlp.gate_up_proj(x).chunk(2, dim=-1)[1] * act)
        else:
            rebuilt = mlp.down_proj(act * mlp.up_proj(x))
        torch.testing.assert_close(rebuilt[mask], outputs[layer][mask], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("site", ["act", "down_in"])
def test_edit_changes_exactly_one_coordinate(family: str, site: str) -> None:
    model = build(family)
    batch = _batch()
    mask = batch["attention_mask"].bool()
    layer, neuron = 1, 7
    plain_logits = _logits(model, batch)
    with capture_activations(model, site=site, layers=[layer], scope="all") as before:
        _logits(model, batch)
    edit = set_value_edit({layer: [neuron]}, 3.0)
    # The edit's hook is registered first, so the capture sees the edited values.
    with edit_neurons(model, edit, site=site, scope="all"):
        with capture_activations(model, site=site, layers=[layer], scope="all") as after:
            edited_logits = _logits(model, batch)
    a, b = before.values(layer), after.values(layer)
    assert a.shape == b.shape == (int(mask.sum()), 96)
    changed = (a != b).any(dim=0).nonzero().flatten().tolist()
    assert changed == [neuron]
    assert torch.all(b[:, neuron] == 3.0)
    assert not torch.equal(plain_logits, edited_logits)


def _greedy(model: torch.nn.Module, batch: dict[str, torch.Tensor], new: int) -> torch.Tensor:
    with torch.no_grad():
        out = model.generate(
            **batch,
            max_new_tokens=new,
            min_new_tokens=new,
            do_sample=False,
            pad_token_id=PAD_ID,
        )
    return out[:, batch["input_ids"].shape[1] :]


def _strong_edit() -> NeuronEdit:
    # Strong enough to change greedy choices even in Gemma, whose residual stream is scaled up.
    return NeuronEdit(
        {layer: list(range(layer % 2, 96, 2)) for layer in range(3)}, lambda a: a + 20
    )


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_batched_left_padded_generation_equals_one_by_one(family: str) -> None:
    # float64 so that padding-induced rounding differences cannot flip a greedy choice;
    # Gemma-2's eager soft-capped attention gives NaN on padded rows in float64 (a
    # transformers limitation, not ours), so it runs in float32.
    model = build(family, dtype=torch.float32 if family == "gemma2" else torch.float64)
    new = 6
    with edit_neurons(model, _strong_edit(), scope="generated"):
        batched = _greedy(model, _batch(), new)
        singles = [_greedy(model, left_padded_batch([row]), new)[0] for row in ROWS]
    for i, single in enumerate(singles):
        assert torch.equal(batched[i], single), f"{family}: row {i} differs"
    # The edit must matter, or the equality above proves nothing about edits.
    plain = _greedy(model, _batch(), new)
    assert not torch.equal(plain, batched), f"{family}: edit did not change generation"


def test_generated_scope_does_not_touch_the_prompt() -> None:
    model = build("llama")
    batch = _batch()
    with edit_neurons(model, _strong_edit(), scope="generated"):
        prompt_logits = _logits(model, batch)
    assert torch.equal(prompt_logits, _logits(model, batch))


def test_scopes_count_the_right_tokens_during_generation() -> None:
    model = build("llama")
    batch = _batch()
    new = 5
    real_prompt_tokens = sum(len(r) for r in ROWS)
    counts = {}
    for scope in ("prompt", "generated", "all"):
        with capture_activations(model, scope=scope, layers=[0]) as cap:
            _greedy(model, batch, new)
        counts[scope] = cap.values(0).shape[0]
    # The last generated token is never fed back, so new - 1 generated tokens per row.
    assert counts["prompt"] == real_prompt_tokens
    assert counts["generated"] == len(ROWS) * (new - 1)
    assert counts["all"] == counts["prompt"] + counts["generated"]


def _generated_masks(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    seen: list[torch.Tensor] = []
    with trace_neurons(
        model,
        lambda layer, values, mask: seen.append(mask.clone()),
        scope="generated",
        layers=[0],
        prompt_length=6,
        stop_token_ids=[2],
    ):
        _logits(model, batch)
    assert len(seen) == 1
    return seen[0]


def test_explicit_prompt_length_on_a_full_forward_and_stop_tokens() -> None:
    model = build("llama")
    # One forward over prompt + answer, prompt = the first 6 (padded) columns.
    # Row 0: answer 40, 2, 42 -> the stop token 2 and what follows are out of scope.
    # Row 1: answer 40, 41, 2 -> two answer tokens in scope.
    batch = left_padded_batch([[5, 6, 7, 8, 9, 10, 40, 2, 42], [5, 6, 7, 8, 9, 10, 40, 41, 2]])
    expected = torch.tensor([[False] * 6 + [True, False, False], [False] * 6 + [True, True, False]])
    assert torch.equal(_generated_masks(model, batch), expected)
    # Row 1 is one token shorter, so left padding puts its stop token 2 in a prompt column
    # (5): a stop token inside the prompt does not end the answer.
    batch = left_padded_batch([[5, 6, 7, 8, 9, 10, 40, 41, 42], [11, 12, 13, 50, 2, 3, 3, 3]])
    expected = torch.tensor([[False] * 6 + [True] * 3, [False] * 6 + [True] * 3])
    assert torch.equal(_generated_masks(model, batch), expected)


def test_stop_tokens_exclude_finished_rows_during_generation() -> None:
    model = build("llama")
    batch = _batch()
    with capture_activations(model, scope="generated", layers=[0]) as plain:
        out = _greedy(model, batch, 6)
    eos = int(out[0, 2])  # pretend the third generated token of row 0 is a stop token
    with capture_activations(model, scope="generated", layers=[0], stop_token_ids=[eos]) as cap:
        _greedy(model, batch, 6)
    fed = out[:, :-1]  # generated tokens that were fed back
    hit = fed == eos
    after = hit.cumsum(dim=1) > 0
    assert cap.values(0).shape[0] == int((~after).sum())
    assert plain.values(0).shape[0] == fed.numel()


def test_no_hook_left_behind_on_exit_or_error() -> None:
    model = build("llama")
    baseline = count_hooks(model)
    with capture_activations(model), edit_neurons(model, identity_edit({0: [1]})):
        assert count_hooks(model) > baseline
        _logits(model, _batch())
    assert count_hooks(model) == baseline
    with pytest.raises(RuntimeError, match="boom"):
        with edit_neurons(model, identity_edit({0: [1]}), scope="all"):
            raise RuntimeError("boom")
    assert count_hooks(model) == baseline
    with pytest.raises(RuntimeError, match="inside"):
        with trace_neurons(model, lambda *a: (_ for _ in ()).throw(RuntimeError("inside"))):
            _logits(model, _batch())
    assert count_hooks(model) == baseline
    # A bad layer index fails before anything is left registered.
    with pytest.raises(ValueError, match="out of range"):
        with edit_neurons(model, identity_edit({99: [1]})):
            pass
    assert count_hooks(model) == baseline


def test_bad_scope_and_site_are_clear_errors() -> None:
    model = build("llama")
    with pytest.raises(ValueError, match="scope"):
        with capture_activations(model, scope="answers"):  # type: ignore[arg-type]
            pass
    with pytest.raises(ValueError, match="site"):
        with capture_activations(model, site="mlp_out"):  # type: ignore[arg-type]
            pass
    assert count_hooks(model) == 0


def test_pad_token_is_never_captured() -> None:
    model = build("llama")
    batch = _batch()
    real = batch["attention_mask"].sum().item()
    with capture_activations(model, scope="all") as cap:
        _logits(model, batch)
    assert cap.values(0).shape[0] == real
    assert (batch["input_ids"] == PAD_ID).sum().item() == batch["attention_mask"].numel() - real


def test_decode_chunker_feeds_the_same_tokens_in_fewer_calls() -> None:
    from valuelocate.hooks import DecodeChunker
    from valuelocate.stats import NeuronStats

    model = build("llama")
    batch = _batch()
    direct, chunked = NeuronStats(3, 96), NeuronStats(3, 96)
    calls: list[int] = []

    def counting_sink(layer: int, values: torch.Tensor, mask: torch.Tensor) -> None:
        calls.append(values.shape[1])
        chunked.add(layer, values, mask)

    chunker = DecodeChunker(counting_sink, max_steps=3)
    for scope in ("generated", "all"):
        with trace_neurons(model, direct.add, scope=scope):
            _greedy(model, batch, 8)
        with trace_neurons(model, chunker, scope=scope):
            _greedy(model, batch, 8)
        chunker.flush()
        direct.end_batch()
        chunked.end_batch()
    assert torch.equal(direct.n, chunked.n) and int(direct.n[0]) > 0
    assert torch.equal(direct.c, chunked.c)
    for layer in range(3):
        assert torch.equal(direct.histogram(layer), chunked.histogram(layer))
    torch.testing.assert_close(direct.mean, chunked.mean, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(direct.prompt_mean, chunked.prompt_mean, rtol=1e-10, atol=1e-12)
    # 7 decoding steps per generate, in chunks of at most 3 (3 + 3 + 1), plus the prefill.
    assert max(calls) == 6 and calls.count(3) == 2 * 2 * 3
