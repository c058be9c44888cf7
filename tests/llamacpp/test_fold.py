"""Folding a neuron addition into llama.cpp's residual vectors, on a tiny model of every family:
a ``down_in`` addition (and an ``act`` one on plain MLPs) is exactly the folded vector added to
the output of its layer; an ``act`` addition on a gated MLP only with ``up(x)``, exactly when
``up`` is the input's own; post-MLP-norm families, unknown families and layer 0 are refused."""

from __future__ import annotations

import pytest
import torch
import transformers

from valuelocate.hooks import edit_neurons
from valuelocate.llamacpp.fold import (
    GGUF_ARCHITECTURES,
    POST_MLP_NORM,
    FoldRefused,
    gguf_architecture,
    precheck,
    residual_vectors,
    up_means,
)
from valuelocate.steering.mean_diff import MeanDiffEdit
from valuelocate.steering.residual import LayerVectors

from tiny_models import FAMILIES, VOCAB, build

FOLDABLE = [f for f in FAMILIES if f not in POST_MLP_NORM]
PLAIN = ["gpt2", "gpt_neox"]


def _model(family: str) -> torch.nn.Module:
    if family != "granite":
        return build(family)
    # Granite scales the MLP's output before the residual: test it away from 1.
    torch.manual_seed(0)
    config = FAMILIES["granite"].build_config()
    config.residual_multiplier = 0.37
    return transformers.GraniteForCausalLM(config).eval()


def _edit(site: str, *, layers: tuple[int, ...] = (1, 2), gamma: float = 3.0) -> MeanDiffEdit:
    generator = torch.Generator().manual_seed(7)
    indices = {n: torch.randperm(96, generator=generator)[:9].sort().values for n in layers}
    deltas = {n: torch.randn(9, generator=generator, dtype=torch.float64) for n in layers}
    return MeanDiffEdit(indices, deltas, gamma, site, "located")  # type: ignore[arg-type]


def _logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits


IDS = torch.randint(3, VOCAB, (2, 7), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("family", FOLDABLE)
def test_folded_vector_is_the_down_in_edit(family: str) -> None:
    model = _model(family)
    edit = _edit("down_in")
    base = _logits(model, IDS)
    with edit_neurons(model, edit, scope="all"):
        exact = _logits(model, IDS)
    with LayerVectors(residual_vectors(model, edit)).apply(model):
        folded = _logits(model, IDS)
    assert (exact - base).abs().max() > 1e-3, "the edit changes the logits"
    torch.testing.assert_close(folded, exact, rtol=1e-5, atol=1e-5)
    assert gguf_architecture(model) == GGUF_ARCHITECTURES[family]


@pytest.mark.parametrize("family", PLAIN)
def test_act_edit_of_a_plain_mlp_is_exact(family: str) -> None:
    model = _model(family)
    edit = _edit("act")
    with edit_neurons(model, edit, scope="all"):
        exact = _logits(model, IDS)
    with LayerVectors(residual_vectors(model, edit)).apply(model):
        folded = _logits(model, IDS)
    torch.testing.assert_close(folded, exact, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", ["llama", "phi3", "gemma"])
def test_act_edit_of_a_gated_mlp_needs_up_and_is_exact_with_the_inputs_own(family: str) -> None:
    model = _model(family)
    with pytest.raises(FoldRefused, match="--approximate"):
        residual_vectors(model, _edit("act"))
    # One edited layer and one token: that token's unedited up(x) is the mean, and the edit
    # changes nothing before it.
    edit = _edit("act", layers=(1,))
    one = IDS[:1, :1]
    up = up_means(model, [one[0].tolist()], list(edit.indices))
    with edit_neurons(model, edit, scope="all"):
        exact = _logits(model, one)
    with LayerVectors(residual_vectors(model, edit, up=up)).apply(model):
        folded = _logits(model, one)
    torch.testing.assert_close(folded, exact, rtol=1e-5, atol=1e-5)
    # On longer texts up(x) varies: the fold is then an approximation, not the edit.
    edit = _edit("act")
    up_long = up_means(model, IDS.tolist(), list(edit.indices))
    with edit_neurons(model, edit, scope="all"):
        exact = _logits(model, IDS)
    with LayerVectors(residual_vectors(model, edit, up=up_long)).apply(model):
        folded = _logits(model, IDS)
    assert (folded - exact).abs().max() > 1e-5


def test_up_means_ignore_padding() -> None:
    model = _model("llama")
    rows = [[5, 6, 7, 8], [9, 10]]
    padded = up_means(model, rows, [1], pad_token_id=0, batch_size=2)
    alone = [up_means(model, [r], [1], batch_size=1)[1] for r in rows]
    torch.testing.assert_close(padded[1], (alone[0] + alone[1]) / 2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", sorted(POST_MLP_NORM))
def test_post_mlp_norm_families_are_refused(family: str) -> None:
    model = _model(family)
    with pytest.raises(FoldRefused, match="normalises each MLP's output"):
        gguf_architecture(model)
    with pytest.raises(FoldRefused, match="normalises"):
        precheck(family, _edit("down_in"), approximate=True)


def test_unknown_family_and_layer_0_are_refused() -> None:
    with pytest.raises(FoldRefused, match="no llama.cpp"):
        precheck("mamba", _edit("down_in"), approximate=False)
    layer0 = _edit("down_in", layers=(0, 1))
    with pytest.raises(FoldRefused, match="layer 0"):
        precheck("llama", layer0, approximate=False)
    with pytest.raises(FoldRefused, match="layer 0"):
        residual_vectors(_model("llama"), layer0)
    with pytest.raises(FoldRefused, match="--approximate"):
        precheck("llama", _edit("act"), approximate=False)
    precheck("llama", _edit("act"), approximate=True)  # allowed, and measured
    precheck("gpt2", _edit("act"), approximate=False)  # plain MLP: exact
