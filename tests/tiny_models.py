"""Tiny randomly initialised models of every supported family, built from config classes.

No network and no weights: a few thousand parameters each, so a whole family sweep runs in
seconds. ``manual_act`` recomputes a layer's neuron vector from the MLP's weights, with the
activation function looked up from the config (never from the hooked module), as the oracle
for the hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from torch import Tensor, nn
from transformers.activations import ACT2FN

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
STORIES = SHARED / "models" / "stories260k-llama"

VOCAB = 101
PAD_ID = 0

_COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    pad_token_id=PAD_ID,
    bos_token_id=1,
    eos_token_id=2,
)


@dataclass(frozen=True)
class Family:
    name: str  # config.model_type
    build_config: Callable[[], transformers.PretrainedConfig]
    model_class: type[nn.Module]


def _llama_like(config_cls: type, **extra: object) -> Callable[[], transformers.PretrainedConfig]:
    return lambda: config_cls(**{**_COMMON, **extra})


FAMILIES: dict[str, Family] = {
    "llama": Family("llama", _llama_like(transformers.LlamaConfig), transformers.LlamaForCausalLM),
    "mistral": Family(
        "mistral",
        _llama_like(transformers.MistralConfig, sliding_window=None),
        transformers.MistralForCausalLM,
    ),
    "qwen2": Family("qwen2", _llama_like(transformers.Qwen2Config), transformers.Qwen2ForCausalLM),
    "qwen3": Family(
        "qwen3", _llama_like(transformers.Qwen3Config, head_dim=16), transformers.Qwen3ForCausalLM
    ),
    "gemma": Family(
        "gemma", _llama_like(transformers.GemmaConfig, head_dim=16), transformers.GemmaForCausalLM
    ),
    "gemma2": Family(
        "gemma2",
        _llama_like(transformers.Gemma2Config, head_dim=16, sliding_window=8),
        transformers.Gemma2ForCausalLM,
    ),
    "gemma3_text": Family(
        "gemma3_text",
        _llama_like(transformers.Gemma3TextConfig, head_dim=16, sliding_window=8),
        transformers.Gemma3ForCausalLM,
    ),
    "phi3": Family("phi3", _llama_like(transformers.Phi3Config), transformers.Phi3ForCausalLM),
    "olmo": Family("olmo", _llama_like(transformers.OlmoConfig), transformers.OlmoForCausalLM),
    "olmo2": Family("olmo2", _llama_like(transformers.Olmo2Config), transformers.Olmo2ForCausalLM),
    "granite": Family(
        "granite", _llama_like(transformers.GraniteConfig), transformers.GraniteForCausalLM
    ),
    "gpt2": Family(
        "gpt2",
        lambda: transformers.GPT2Config(
            vocab_size=VOCAB,
            n_embd=64,
            n_layer=3,
            n_head=4,
            n_inner=96,
            n_positions=128,
            pad_token_id=PAD_ID,
            bos_token_id=1,
            eos_token_id=2,
        ),
        transformers.GPT2LMHeadModel,
    ),
    "gpt_neox": Family(
        "gpt_neox",
        lambda: transformers.GPTNeoXConfig(
            vocab_size=VOCAB,
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=3,
            num_attention_heads=4,
            max_position_embeddings=128,
            pad_token_id=PAD_ID,
            bos_token_id=1,
            eos_token_id=2,
        ),
        transformers.GPTNeoXForCausalLM,
    ),
}


def build(name: str, *, seed: int = 0, dtype: torch.dtype = torch.float32) -> nn.Module:
    """A tiny random model of family ``name`` in eval mode (dropout off)."""
    family = FAMILIES[name]
    torch.manual_seed(seed)
    config = family.build_config()
    model = family.model_class(config).to(dtype)
    model.eval()
    return model


def activation_of(config: transformers.PretrainedConfig) -> nn.Module:
    """The activation function named by the config (the oracle's own look-up)."""
    name = (
        getattr(config, "hidden_activation", None)
        or getattr(config, "hidden_act", None)
        or getattr(config, "activation_function", None)
    )
    return ACT2FN[name]


def manual_act(model: nn.Module, layer: int, mlp_input: Tensor) -> Tensor:
    """Recompute layer ``layer``'s neuron vector from its MLP weights: ``act(gate(x))`` for
    gated MLPs, ``act(in(x))`` for plain ones."""
    family = model.config.model_type
    act = activation_of(model.config)
    if family == "gpt2":
        mlp = model.transformer.h[layer].mlp
        return act(mlp.c_fc(mlp_input))
    if family == "gpt_neox":
        mlp = model.gpt_neox.layers[layer].mlp
        return act(mlp.dense_h_to_4h(mlp_input))
    mlp = model.model.layers[layer].mlp
    if family == "phi3":
        gate, _up = mlp.gate_up_proj(mlp_input).chunk(2, dim=-1)
        return act(gate)
    return act(mlp.gate_proj(mlp_input))


def mlp_module(model: nn.Module, layer: int) -> nn.Module:
    family = model.config.model_type
    if family == "gpt2":
        return model.transformer.h[layer].mlp
    if family == "gpt_neox":
        return model.gpt_neox.layers[layer].mlp
    return model.model.layers[layer].mlp


def left_padded_batch(rows: list[list[int]]) -> dict[str, Tensor]:
    """Left-pad token id rows with PAD_ID; the attention mask marks real tokens."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row)
        mask[i, width - len(row) :] = 1
    return {"input_ids": ids, "attention_mask": mask}
