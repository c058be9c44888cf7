"""`valuelocate.forward`: positions that skip left padding, last-position logits and the KV
cache, on a tiny random Llama."""

from __future__ import annotations

import inspect

import pytest
import torch

from valuelocate.forward import (
    cache_argument,
    forward_logits,
    head_deferred,
    head_logits,
    input_device,
    last_logits,
    layer_output,
    layers_from,
    output_cache,
    output_module,
    position_ids,
    stop_after,
    without_head,
)
from valuelocate.hooks import NeuronEdit, edit_neurons, trace_neurons

from tiny_models import FAMILIES, build, left_padded_batch


def test_position_ids_skip_left_padding() -> None:
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]])
    assert position_ids(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4], [0, 0, 0, 0, 0]]


def test_left_padded_logits_equal_unpadded_forwards() -> None:
    model = build("llama")
    rows = [[5, 17, 33, 41, 8, 9], [12, 60, 7]]
    batch = left_padded_batch(rows)
    with torch.no_grad():
        full = forward_logits(model, batch, last_only=False)  # [2, 6, vocab]
        last = forward_logits(model, batch, last_only=True)  # [2, vocab]
        for i, row in enumerate(rows):
            alone = model(input_ids=torch.tensor([row])).logits[0, -1]
            torch.testing.assert_close(last[i], alone, rtol=0, atol=1e-5)
    torch.testing.assert_close(last, full[:, -1], rtol=0, atol=1e-6)


def test_last_logits_cache_and_device() -> None:
    model = build("llama")
    ids = torch.tensor([[3, 4, 5, 6]])
    with torch.no_grad():
        assert last_logits(model, input_ids=ids).shape == (1, 101)
        output = model(input_ids=ids, use_cache=True)
    cache = output_cache(output)
    assert cache is not None and cache.get_seq_length() == 4
    assert output_cache(object()) is None
    assert cache_argument(model) in inspect.signature(model.forward).parameters
    assert input_device(model) == torch.device("cpu")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_running_from_a_layer_equals_the_full_forward_under_an_edit_above_it(family) -> None:
    """Layers below ``first`` replaced by their recorded output: logits of a batch that
    repeats the recorded texts, under an edit of layer ``first``, equal the full forward."""
    model = build(family)
    texts = left_padded_batch([[5, 17, 33, 41, 8, 9], [12, 60, 7], [3, 4, 5, 6]])
    first = 1
    hidden = layer_output(model, first - 1, texts)
    assert hidden is not None  # every family in the table returns one tensor per layer
    batch = {k: v.repeat(2, 1) for k, v in texts.items()}
    edit = NeuronEdit({first: [0, 3, 7], 2: [1]}, lambda a: a + 0.7)
    with torch.no_grad(), edit_neurons(model, edit, scope="all"):
        full = forward_logits(model, batch, last_only=False)
        with layers_from(model, first, hidden):
            skipped = forward_logits(model, batch, last_only=False)
    keep = batch["attention_mask"].bool()
    assert torch.allclose(full[keep], skipped[keep], atol=1e-5)
    assert not torch.equal(hidden, torch.zeros_like(hidden))
    # the real layers are back afterwards
    with torch.no_grad():
        again = forward_logits(model, texts, last_only=False)
        unedited = model(**texts, position_ids=position_ids(texts["attention_mask"])).logits
    assert torch.equal(again, unedited)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_forward_stopped_after_a_layer_shows_its_hooks_what_a_whole_one_does(family) -> None:
    """Activations of layers up to ``layer`` bit for bit as in the whole forward; the layers
    above and the head never run; the hooks are gone afterwards and other errors still
    propagate."""
    model = build(family)
    batch = left_padded_batch([[5, 17, 33, 41, 8, 9], [12, 60, 7]])
    layers = list(range(model.config.num_hidden_layers))
    stop = 1

    def run(stopped: bool) -> dict[int, torch.Tensor]:
        seen: dict[int, torch.Tensor] = {}

        def keep(layer: int, values: torch.Tensor, _mask: torch.Tensor) -> None:
            seen[layer] = values.clone()

        with (
            stop_after(model, stop) if stopped else torch.no_grad(),
            torch.no_grad(),
            trace_neurons(model, keep, site="act", layers=layers),
        ):
            out = model(**batch, position_ids=position_ids(batch["attention_mask"]))
            assert not stopped, "the model call should not return"
            assert out.logits is not None
        return seen

    whole, stopped = run(False), run(True)
    assert sorted(stopped) == list(range(stop + 1)) and len(whole) == len(layers) > stop + 1
    for layer in stopped:
        assert torch.equal(stopped[layer], whole[layer])
    handles = [m._forward_hooks for m in model.modules()]
    assert not any(handles)  # nothing left hooked
    with pytest.raises(ZeroDivisionError), stop_after(model, stop):
        raise ZeroDivisionError


# Each family's own step after the output head, made non-trivial where its default is.
_HEAD_SCALING = {"granite": {"logits_scaling": 3.0}, "gemma2": {"final_logit_softcapping": 5.0},
                 "gemma3_text": {"final_logit_softcapping": 5.0}}  # fmt: skip


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_deferred_head_gives_the_forwards_own_logits(family) -> None:
    """The final hidden states recorded with the head deferred, put through ``head_logits``
    a few rows at a time, are the logits the model's forward returns (scaling and soft-capping
    included), and the head is restored after the block."""
    model = build(family)
    for key, value in _HEAD_SCALING.get(family, {}).items():
        setattr(model.config, key, value)
    batch = left_padded_batch([[5, 17, 33, 41, 8, 9], [12, 60, 7], [3, 4, 5, 6]])
    with torch.no_grad():
        full = forward_logits(model, batch, last_only=False)
        with head_deferred(model) as seen:
            stub = forward_logits(model, batch, last_only=False)
        assert stub.shape[-1] == 1 and len(seen) == 1
        rows = [head_logits(model, seen[0][r : r + 2]) for r in range(0, 3, 2)]
        again = forward_logits(model, batch, last_only=False)
    torch.testing.assert_close(torch.cat(rows), full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, full, rtol=0, atol=0)  # the real head is back


def test_without_head_skips_the_head_where_it_can() -> None:
    """Inside ``without_head`` the logits are a one-wide stand-in and the head is back after;
    a model whose head is its input embedding (which ``head_deferred`` refuses) runs its head
    all the same."""
    model = build("llama")
    batch = left_padded_batch([[5, 17, 33], [12, 60, 7]])
    with torch.no_grad():
        full = forward_logits(model, batch, last_only=True)
        with without_head(model):
            assert forward_logits(model, batch, last_only=True).shape[-1] == 1
        torch.testing.assert_close(
            forward_logits(model, batch, last_only=True), full, rtol=0, atol=0
        )
        head = output_module(model)
        model.get_input_embeddings = lambda: head  # type: ignore[method-assign]
        with pytest.raises(ValueError, match="through its output head"):
            with head_deferred(model):
                pass
        with without_head(model):
            torch.testing.assert_close(
                forward_logits(model, batch, last_only=True), full, rtol=0, atol=0
            )
