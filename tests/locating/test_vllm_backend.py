"""The vLLM backend: a clear error without vLLM, and parity with the transformers backend
(same tokens counted, nearly the same neurons, the same greedy text under the same edit) where
vLLM and a CUDA GPU are present; skipped elsewhere."""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest
import torch

from valuelocate.hooks import edit_neurons
from valuelocate.locating import LocateOptions, build_jobs, locate, run_pole
from valuelocate.models import load_model
from valuelocate.prompting import chat_inputs
from valuelocate.stats import NeuronStats
from valuelocate.steering.simple import set_value_edit

OPTIONS = LocateOptions(
    model="default",
    dimensions=("conservation",),
    prompts_per_pole=4,
    max_new_tokens=16,
    batch_size=4,
    dtype="float32",
    device="cuda",
    method_params={"min_required": 0.005, "threshold": 0.1},
)


def test_backend_vllm_without_vllm_says_how_to_install(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from valuelocate.locating.vllm_backend import VLLMUnavailableError

    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm now raises ImportError
    with pytest.raises(VLLMUnavailableError, match=r"pip install 'valuelocate\[vllm\]'"):
        locate(replace(OPTIONS, backend="vllm", device=None), tmp_path / "run")


def test_backend_vllm_refuses_other_scopes() -> None:
    with pytest.raises(ValueError, match="--scope generated"):
        LocateOptions(backend="vllm", scope="all").validate()


@pytest.fixture(scope="module")
def locator():  # type: ignore[no-untyped-def]
    pytest.importorskip("vllm")
    if not torch.cuda.is_available():
        pytest.skip("vLLM needs a CUDA GPU")
    from valuelocate.locating.vllm_backend import VLLMLocator

    return VLLMLocator.load(replace(OPTIONS, backend="vllm"))


@pytest.fixture(scope="module")
def hf():  # type: ignore[no-untyped-def]
    return load_model("default", dtype=OPTIONS.dtype, device="cuda")


def _job():  # type: ignore[no-untyped-def]
    from valuelocate.data import load_descriptions, load_prompts

    return build_jobs(OPTIONS, load_prompts(split="search"), load_descriptions())[0]


def test_vllm_counts_the_same_tokens_and_neurons(locator, hf) -> None:  # type: ignore[no-untyped-def]
    job = _job()
    shape = locator.shape
    ours = locator.run_pole(job, OPTIONS, NeuronStats(shape.num_layers, shape.neurons_per_layer))
    theirs = run_pole(hf, job, OPTIONS, NeuronStats(shape.num_layers, shape.neurons_per_layer))
    assert torch.equal(ours.n, theirs.n), "the same generated tokens are counted"
    assert torch.equal(ours.prompt_count, theirs.prompt_count)
    # Kernels round differently: activations near 0 may flip sign on a few tokens.
    assert float((ours.p - theirs.p).abs().max()) <= 2.0 / float(theirs.n[0])
    torch.testing.assert_close(ours.mean, theirs.mean, rtol=1e-3, atol=1e-3)


def test_vllm_greedy_text_under_an_edit_matches_transformers(locator, hf) -> None:  # type: ignore[no-untyped-def]
    texts = list(_job().texts[:2])
    edit = set_value_edit({locator.shape.num_layers - 2: list(range(0, 64))}, 0.0)
    ours = locator.generate(texts, max_new_tokens=12, edit=edit)
    batch = {k: v.to("cuda") for k, v in chat_inputs(hf.tokenizer, texts).items()}
    with torch.no_grad(), edit_neurons(hf.model, edit, scope="generated"):
        out = hf.model.generate(**batch, max_new_tokens=12, do_sample=False, repetition_penalty=1.1)
    prompt = batch["input_ids"].shape[1]
    theirs = hf.tokenizer.batch_decode(out[:, prompt:], skip_special_tokens=True)
    assert ours == theirs
    plain = locator.generate(texts, max_new_tokens=12)
    assert plain != ours or edit is None, "the edit changes the answers"
