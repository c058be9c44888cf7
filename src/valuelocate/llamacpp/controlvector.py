"""llama.cpp control vectors: the GGUF file as llama.cpp's loader reads it.

**The file** (what llama.cpp's ``common_control_vector_load_one`` reads): a GGUF whose
tensors are named ``direction.N``, each a 1-D float32 vector of the model's hidden size, ``N``
>= 1. llama.cpp adds ``direction.N`` (times the strength given on its command line) to the
output of decoder layer ``N``, counted from 0, at every position, the prompt included; it
never steers layer 0's output and refuses ``direction.0``. Layers without a tensor get
nothing. Its metadata is not read by the loader; like llama.cpp's own ``cvector-generator``
and repeng we write ``general.architecture = "controlvector"``,
``controlvector.model_hint`` (the model's llama.cpp architecture, e.g. ``llama``) and
``controlvector.layer_count`` (the number of direction tensors), and ours under
``valuelocate.*`` (the run, dimension, pole, gamma, site, whether the fold is exact, and for an
approximate one the measured agreement).

The export that writes these files is :mod:`valuelocate.llamacpp.export`; the agreement of an
approximate fold is measured by :mod:`valuelocate.llamacpp.agreement`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from valuelocate.artifacts import ArtifactError

ARCH = "controlvector"


class ExportRefused(ArtifactError):
    """The export cannot be made; the message says why and what would work, in one line."""


# ------------------------------------------------------------------ the file


@dataclass
class ControlVector:
    """A control-vector GGUF as read back (:func:`read_control_vector`).

    Attributes:
        directions: layer ``N`` -> ``[hidden]`` float32 (added to the output of layer ``N``).
        model_hint: ``controlvector.model_hint``.
        layer_count: ``controlvector.layer_count``.
        metadata: every other key, by its full name.
    """

    directions: dict[int, np.ndarray]
    model_hint: str
    layer_count: int
    metadata: dict[str, Any] = field(default_factory=dict)


def write_control_vector(
    path: str | Path,
    directions: Mapping[int, Tensor | np.ndarray],
    *,
    model_hint: str,
    metadata: Mapping[str, str | bool | int | float] | None = None,
) -> None:
    """Write a control-vector GGUF at ``path`` (``direction.N`` for each layer ``N`` >= 1).

    Args:
        directions: layer -> ``[hidden]`` vector (cast to float32).
        model_hint: llama.cpp's architecture name of the model (``llama``, ``qwen2``, ...).
        metadata: more keys (``str``, ``bool``, ``int`` as int32, ``float`` as float32).

    Raises:
        ValueError: a layer below 1, vectors of different sizes, or a non-finite entry.
    """
    import gguf

    arrays = {int(n): np.ascontiguousarray(np.asarray(v, dtype=np.float32).reshape(-1))
              for n, v in directions.items()}  # fmt: skip
    if not arrays:
        raise ValueError("A control vector needs at least one direction")
    if min(arrays) < 1:
        raise ValueError("llama.cpp refuses direction.0: layers start at 1")
    if len({a.shape[0] for a in arrays.values()}) != 1:
        raise ValueError("Every direction must have the model's hidden size")
    if not all(np.isfinite(a).all() for a in arrays.values()):
        raise ValueError("A direction holds a non-finite entry")
    writer = gguf.GGUFWriter(str(path), ARCH)
    writer.add_string(f"{ARCH}.model_hint", model_hint)
    writer.add_int32(f"{ARCH}.layer_count", len(arrays))
    for key, value in (metadata or {}).items():
        if isinstance(value, bool):
            writer.add_bool(key, value)
        elif isinstance(value, int):
            writer.add_int32(key, value)
        elif isinstance(value, float):
            writer.add_float32(key, value)
        else:
            writer.add_string(key, str(value))
    for layer in sorted(arrays):
        writer.add_tensor(f"direction.{layer}", arrays[layer])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _field_value(field: Any) -> Any:
    import gguf

    kind = field.types[0] if field.types else None
    if kind == gguf.GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    if kind == gguf.GGUFValueType.ARRAY:
        return [field.parts[i].tolist() for i in field.data]
    value = field.parts[field.data[0]][0]
    return bool(value) if kind == gguf.GGUFValueType.BOOL else value.item()


def read_control_vector(path: str | Path) -> ControlVector:
    """Read a control-vector GGUF as llama.cpp would: every tensor must be ``direction.N``
    (``N`` >= 1), 1-D float32, all of one size.

    Raises:
        ValueError: not a control vector, or a tensor llama.cpp's loader would refuse.
    """
    import gguf

    reader = gguf.GGUFReader(str(path))
    values = {
        name: _field_value(f) for name, f in reader.fields.items() if not name.startswith("GGUF.")
    }
    if values.get("general.architecture") != ARCH:
        raise ValueError(f"{path}: general.architecture is not {ARCH!r}")
    directions: dict[int, np.ndarray] = {}
    for tensor in reader.tensors:
        head, _, tail = tensor.name.partition(".")
        if head != "direction" or not tail.isdigit() or int(tail) < 1:
            raise ValueError(f"{path}: tensor {tensor.name!r} is not direction.N with N >= 1")
        if tensor.tensor_type != gguf.GGMLQuantizationType.F32 or len(tensor.shape) != 1:
            raise ValueError(f"{path}: {tensor.name} is not a 1-D float32 tensor")
        directions[int(tail)] = np.array(tensor.data, dtype=np.float32)
    if len({d.shape[0] for d in directions.values()}) > 1:
        raise ValueError(f"{path}: the directions differ in size")
    hint = values.pop(f"{ARCH}.model_hint", "")
    count = int(values.pop(f"{ARCH}.layer_count", len(directions)))
    values.pop("general.architecture", None)
    return ControlVector(dict(sorted(directions.items())), str(hint), count, values)


# ------------------------------------------------------------------ agreement


__all__ = ["ARCH", "ControlVector", "ExportRefused", "read_control_vector", "write_control_vector"]
