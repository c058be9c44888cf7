"""Loading: the embedded default model, the tiny real Llama, and the errors for bad models."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import transformers

from valuelocate.architectures import (
    ArchSpec,
    UnsupportedArchitectureError,
    arch_for,
    model_shape,
    supported_families,
)
from valuelocate.hooks import capture_activations
from valuelocate.models import ModelLoadError, load_model
from valuelocate.prompting import chat_inputs

from tiny_models import STORIES, build


@pytest.fixture(scope="module")
def default_lm():  # type: ignore[no-untyped-def]
    return load_model("default")


def test_default_model_loads_offline_and_answers(default_lm) -> None:  # type: ignore[no-untyped-def]
    lm = default_lm
    shape = model_shape(lm.model)
    assert (shape.family, shape.num_layers, shape.neurons_per_layer) == ("llama", 30, 1536)
    assert lm.tokenizer.chat_template
    batch = chat_inputs(lm.tokenizer, ["What is the capital of France?"])
    with torch.no_grad():
        out = lm.model.generate(**batch, max_new_tokens=12, do_sample=False)
    answer = lm.tokenizer.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


def test_stories260k_loads_and_hooks() -> None:
    if not STORIES.is_dir():
        pytest.skip("../shared/models/stories260k-llama is absent")
    lm = load_model(str(STORIES))
    shape = model_shape(lm.model)
    assert (shape.num_layers, shape.neurons_per_layer) == (5, 172)
    batch = lm.tokenizer(["Once upon a time", "The cat"], return_tensors="pt", padding=True)
    with capture_activations(lm.model, scope="all") as cap:
        lm.model(**batch)
    assert cap.values(4).shape == (int(batch["attention_mask"].sum()), 172)


def test_unreachable_hub_id_is_one_clear_error() -> None:
    with pytest.raises(ModelLoadError) as info:
        load_model("valuelocate-test/no-such-model")
    message = str(info.value)
    assert "--model default" in message and "local folder" in message


def test_cli_unreachable_hub_id_prints_no_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "valuelocate", "info", "--model", "valuelocate-test/nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--model default" in result.stderr


def test_cli_help_lists_subcommands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "valuelocate", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for command in ("info", "demo"):
        assert command in result.stdout


def _tiny_bloom() -> torch.nn.Module:
    torch.manual_seed(0)
    config = transformers.BloomConfig(vocab_size=50, hidden_size=32, n_layer=2, n_head=4)
    return transformers.BloomForCausalLM(config).eval()


def test_unknown_family_error_lists_families_and_override() -> None:
    model = _tiny_bloom()
    with pytest.raises(UnsupportedArchitectureError) as info:
        arch_for(model)
    message = str(info.value)
    assert "'bloom'" in message
    for family in supported_families():
        assert family in message
    assert "arch=ArchSpec(" in message


def test_override_spec_makes_an_unknown_family_work() -> None:
    model = _tiny_bloom()
    spec = ArchSpec(
        layers="transformer.h", act="mlp.gelu_impl", down="mlp.dense_4h_to_h", gated=False
    )
    batch = {"input_ids": torch.tensor([[1, 2, 3, 4]])}
    with capture_activations(model, arch=spec, scope="all") as cap:
        model(**batch)
    assert cap.values(1).shape == (4, 128)
    assert model_shape(model, spec).neurons_per_layer == 128


def test_wrong_override_path_is_a_clear_error() -> None:
    model = build("llama")
    spec = ArchSpec(layers="model.layers", act="mlp.activation", down="mlp.down_proj", gated=True)
    with pytest.raises(UnsupportedArchitectureError, match="mlp.activation"):
        with capture_activations(model, arch=spec):
            pass


def test_bad_dtype_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="dtype"):
        load_model("default", dtype="float8")


def test_named_models_name_the_gguf_file_they_ship() -> None:
    from valuelocate.model_files import gguf_file_name

    assert str(gguf_file_name("default")).endswith(".gguf")
    assert str(gguf_file_name("gemma-3-270m")).endswith(".gguf")
    assert gguf_file_name("some/other-model") is None
