"""A constant neuron addition as the residual vector it adds after its layer.

An edit ``a_S <- a_S + gamma * delta_S`` (a :class:`~valuelocate.steering.mean_diff.MeanDiffEdit`)
at the **input of the MLP's down projection** (``down_in``) changes the MLP's output by
``W_down[:, S] @ (gamma * delta_S)``, the same vector at every position; in a family whose
MLP output goes straight into the residual stream (Llama, Mistral, Qwen, Phi-3, OLMo, GPT-2,
GPT-NeoX, ...) that is exactly a vector added to the output of the decoder layer, which is
what a llama.cpp control vector's ``direction.N`` is (added to the output of layer ``N``,
counted from 0, at every position). Granite scales the MLP's output by its
``residual_multiplier`` before the residual: the vector is scaled too.

On a **plain** MLP (GPT-2, GPT-NeoX) the ``act`` site is the down projection's input, so the
same holds there. On a **gated** MLP (``down(act(gate(x)) * up(x))``) adding ``delta`` at
``act`` adds ``W_down (delta * up(x))``: a vector that depends on the input. Its nearest
constant is ``W_down (delta * mean up(x))`` over some texts (:func:`up_means`); that is an
approximation, and the export measures how far it is from the exact edit
(:mod:`valuelocate.llamacpp.controlvector`).

Refused, with the reason (:class:`FoldRefused`): families that normalise the MLP's output
before the residual (Gemma 2 and 3, OLMo 2: no constant vector reproduces a neuron addition
there), families without a llama.cpp architecture, edits on layer 0 (llama.cpp never adds a
control vector after layer 0), and ``act`` edits of gated MLPs without ``up``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from valuelocate.architectures import (
    ARCHITECTURES,
    ArchSpec,
    arch_for,
    decoder_layers,
    site_module,
)
from valuelocate.forward import input_device, position_ids
from valuelocate.prompting import left_pad
from valuelocate.steering.mean_diff import MeanDiffEdit

# config.model_type -> llama.cpp's architecture name (general.architecture of the model's GGUF,
# which a control vector's model hint names).
GGUF_ARCHITECTURES: dict[str, str] = {
    "llama": "llama",
    "mistral": "llama",  # llama.cpp converts Mistral to its llama architecture
    "qwen2": "qwen2",
    "qwen3": "qwen3",
    "gemma": "gemma",
    "phi3": "phi3",
    "olmo": "olmo",
    "granite": "granite",
    "gpt2": "gpt2",
    "gpt_neox": "gptneox",
}
# Families that normalise the MLP's output before adding it to the residual stream.
POST_MLP_NORM: dict[str, str] = {"gemma2": "Gemma 2", "gemma3_text": "Gemma 3", "olmo2": "OLMo 2"}
_POST_NORM_MODULE = "post_feedforward_layernorm"


class FoldRefused(ValueError):
    """The edit cannot be written as a control vector; the message says why, in one line."""


def family_of(model: nn.Module) -> str:
    """``config.model_type`` (``custom`` without a config)."""
    return str(getattr(getattr(model, "config", None), "model_type", "custom"))


def _post_norm_refusal(family: str) -> FoldRefused:
    name = POST_MLP_NORM.get(family, family)
    return FoldRefused(
        f"{name} normalises each MLP's output before the residual stream "
        f"({_POST_NORM_MODULE}), so no control vector reproduces a neuron edit; steer it "
        "with ValueLocate itself (valuelocate serve, run_edit) instead"
    )


def _family_refusal(family: str) -> FoldRefused:
    return FoldRefused(
        f"Model family {family!r} has no llama.cpp (GGUF) architecture that ValueLocate "
        f"knows (known: {', '.join(sorted(GGUF_ARCHITECTURES))}); a control vector needs "
        "the model as a GGUF file that llama.cpp runs"
    )


_ACT_REFUSAL = (
    "The edit adds at the act site of a gated MLP, where its effect depends on up(x): "
    "no control vector is exact; pass --approximate to fold up(x) to its mean over the "
    "run's texts (the agreement is measured), or edit at down_in"
)
_LAYER0_REFUSAL = (
    "The edit changes layer 0, and llama.cpp adds no control vector after layer 0 "
    "(direction.0 is refused by its loader); edit layers >= 1"
)


def precheck(family: str, edit: MeanDiffEdit, *, approximate: bool) -> None:
    """Refuse, before any model is loaded, what the run's records already rule out: the
    family (by its ``model_type``), an edit on layer 0, an ``act`` edit of a gated MLP
    without ``approximate``. A family outside the architecture table passes (the loaded
    model is checked again by :func:`gguf_architecture` and :func:`residual_vectors`).

    Raises:
        FoldRefused: with the one-line reason.
    """
    if family in POST_MLP_NORM:
        raise _post_norm_refusal(family)
    if family not in GGUF_ARCHITECTURES:
        raise _family_refusal(family)
    if 0 in edit.indices:
        raise FoldRefused(_LAYER0_REFUSAL)
    spec = ARCHITECTURES.get(family)
    if spec is not None and spec.gated and edit.site == "act" and not approximate:
        raise FoldRefused(_ACT_REFUSAL)


def gguf_architecture(model: nn.Module, arch: ArchSpec | None = None) -> str:
    """llama.cpp's name of the model's architecture, after checking that a residual vector can
    stand for a neuron addition in it.

    Raises:
        FoldRefused: a post-MLP norm, or a family llama.cpp has no architecture for here.
    """
    family = family_of(model)
    layer = decoder_layers(model, arch)[0]
    post_norm = any(name.endswith(_POST_NORM_MODULE) for name, _ in layer.named_modules())
    if family in POST_MLP_NORM or post_norm:
        raise _post_norm_refusal(family)
    if family not in GGUF_ARCHITECTURES:
        raise _family_refusal(family)
    return GGUF_ARCHITECTURES[family]


def down_weight(model: nn.Module, layer: int, arch: ArchSpec | None = None) -> Tensor:
    """Layer ``layer``'s down projection as ``[hidden, neurons]`` float64 (GPT-2's Conv1D
    stores it transposed)."""
    spec = arch_for(model, arch)
    down = site_module(decoder_layers(model, spec)[layer], "down_in", spec)
    weight = getattr(down, "weight", None)
    if not isinstance(weight, Tensor):
        raise FoldRefused(f"The down projection of layer {layer} has no weight to fold with")
    weight = weight.detach().double().cpu()
    return weight.T if type(down).__name__ == "Conv1D" else weight


def residual_scale(model: nn.Module) -> float:
    """What the MLP's output is multiplied by before the residual (Granite's
    ``residual_multiplier``; 1 elsewhere)."""
    config = getattr(model, "config", None)
    if family_of(model) == "granite":
        return float(getattr(config, "residual_multiplier", 1.0))
    return 1.0


def needs_up(model: nn.Module, edit: MeanDiffEdit, arch: ArchSpec | None = None) -> bool:
    """Whether folding ``edit`` needs the mean of ``up(x)`` (an ``act`` edit of a gated MLP):
    then the fold is an approximation."""
    return edit.site == "act" and arch_for(model, arch).gated


def residual_vectors(
    model: nn.Module,
    edit: MeanDiffEdit,
    *,
    up: Mapping[int, Tensor] | None = None,
    arch: ArchSpec | None = None,
) -> dict[int, Tensor]:
    """Per edited layer ``N``, the ``[hidden]`` float64 vector that adding ``edit`` (at its
    gamma) adds to the output of decoder layer ``N``.

    Args:
        model: the model the edit belongs to.
        edit: a constant addition (``mean-diff``) at ``down_in``, or at ``act`` (exact on a
            plain MLP; on a gated one only with ``up``).
        up: layer -> ``[neurons]`` mean of ``up(x)`` (:func:`up_means`): folds an ``act``
            edit of a gated MLP, approximately.

    Raises:
        FoldRefused: layer 0 is edited, or an ``act`` edit of a gated MLP without ``up``.
    """
    spec = arch_for(model, arch)
    approximate = needs_up(model, edit, spec)
    if approximate and up is None:
        raise FoldRefused(_ACT_REFUSAL)
    if 0 in edit.indices:
        raise FoldRefused(_LAYER0_REFUSAL)
    scale = residual_scale(model)
    out: dict[int, Tensor] = {}
    for layer, index in sorted(edit.indices.items()):
        index = index.long().cpu()
        delta = float(edit.gamma) * edit.deltas[layer].double().cpu()
        if approximate:
            assert up is not None
            if layer not in up:
                raise FoldRefused(f"No mean of up(x) for layer {layer}")
            delta = delta * up[layer].double().cpu()[index]
        out[int(layer)] = scale * (down_weight(model, layer, spec)[:, index] @ delta)
    return out


def _up_module(layer: nn.Module, spec: ArchSpec) -> tuple[nn.Module, bool]:
    """The module whose output is ``up(x)``, and whether it is the second half of a fused
    gate-up projection (Phi-3)."""
    parent = spec.down.rpartition(".")[0]
    mlp: object = layer
    for part in parent.split(".") if parent else ():
        mlp = getattr(mlp, part, None)
    for name, fused in (("up_proj", False), ("gate_up_proj", True)):
        module = getattr(mlp, name, None)
        if isinstance(module, nn.Module):
            return module, fused
    raise FoldRefused(
        f"--approximate needs the MLP's up projection, and {type(mlp).__name__} has neither "
        "up_proj nor gate_up_proj"
    )


def up_means(
    model: nn.Module,
    texts: Sequence[Sequence[int]],
    layers: Sequence[int],
    *,
    pad_token_id: int = 0,
    batch_size: int = 8,
    arch: ArchSpec | None = None,
) -> dict[int, Tensor]:
    """Per layer, the ``[neurons]`` float64 mean of ``up(x)``: the mean over texts of each
    text's mean over its tokens (padding excluded), unedited.

    Args:
        model: a model with a gated MLP.
        texts: token id lists (each text as the model reads it).
        layers: the layers to average.
        pad_token_id: the id left padding uses (masked out).
    """
    spec = arch_for(model, arch)
    all_layers = decoder_layers(model, spec)
    device = input_device(model)
    sums: dict[int, Tensor] = {}
    handles = []
    state: dict[str, Tensor] = {}

    def hook_for(layer: int, fused: bool):  # type: ignore[no-untyped-def]
        def hook(_module: nn.Module, _args: object, output: Tensor) -> None:
            values = output.chunk(2, dim=-1)[1] if fused else output  # [b, s, neurons]
            mask = state["mask"]  # [b, s, 1]
            per_text = (values.double() * mask).sum(1) / mask.sum(1)  # [b, neurons]
            sums[layer] = sums.get(layer, 0) + per_text.sum(0).cpu()

        return hook

    try:
        for layer in sorted(set(int(i) for i in layers)):
            module, fused = _up_module(all_layers[layer], spec)
            handles.append(module.register_forward_hook(hook_for(layer, fused)))
        with torch.no_grad():
            for begin in range(0, len(texts), batch_size):
                ids, mask = left_pad([list(t) for t in texts[begin : begin + batch_size]],
                                     pad_token_id)  # fmt: skip
                state["mask"] = mask.to(device).unsqueeze(-1).double()
                model(
                    input_ids=ids.to(device),
                    attention_mask=mask.to(device),
                    position_ids=position_ids(mask).to(device),
                )
    finally:
        for handle in handles:
            handle.remove()
    n = max(len(texts), 1)
    return {layer: total / n for layer, total in sums.items()}


__all__ = [
    "GGUF_ARCHITECTURES",
    "POST_MLP_NORM",
    "FoldRefused",
    "down_weight",
    "family_of",
    "gguf_architecture",
    "needs_up",
    "precheck",
    "residual_scale",
    "residual_vectors",
    "up_means",
]
