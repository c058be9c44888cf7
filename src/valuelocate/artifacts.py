"""What a run leaves on disk, written atomically, read back with checks.

A run directory (``RUN_DIR``) holds:

- ``manifest.json``: model id, revision, config hash and neuron geometry; dataset hash;
  template; every option; seed; library versions; the command line; status.
- ``stats/{dimension}.{pole}.safetensors``: the finished statistics of each pole.
- ``checkpoints/{dimension}.{pole}.safetensors``: partial statistics of an unfinished pole,
  with the number of prompts done in their metadata (removed when the pole finishes).
- ``neurons.safetensors``: the selected neuron sets (``{dimension}.{pole}.{field}``), and
  ``neurons.json``, a readable summary of them.
- ``summary.json``: sparsity per dimension and pole, layer profile, overlaps.

Every file is written to a temporary sibling and renamed into place, so a killed run never
leaves a half-written file behind: each file is either the old one or the new one.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from valuelocate.architectures import ModelShape
from valuelocate.selection import POLES, SET_FIELDS, NeuronSet, Selection

NEURONS_FORMAT = "valuelocate.NeuronSets"
NEURONS_VERSION = "1"
_FIELDS = SET_FIELDS


class ArtifactError(ValueError):
    """An artifact is missing, corrupt, or does not fit the model it is used with."""


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        # mkstemp creates 0600 files; give the artifact the usual permissions (umask applies).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()


def write_json(path: Path, data: Any) -> None:
    """Atomically write ``data`` as indented JSON."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, sort_keys=False)))


def read_json(path: Path) -> Any:
    """Read a JSON artifact; a missing or corrupt file is an :class:`ArtifactError`."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path} does not exist") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path} is corrupt (not valid JSON: {exc})") from exc


def library_versions() -> dict[str, str]:
    """Versions of the libraries that decide the numbers (for the manifest)."""
    import numpy
    import safetensors
    import transformers

    from valuelocate import __version__

    return {
        "valuelocate": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": numpy.__version__,
    }


def save_neuron_sets(
    path: Path,
    selections: Mapping[str, Selection],
    shape: ModelShape,
    *,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write every dimension's two neuron sets to one safetensors file."""
    tensors: dict[str, torch.Tensor] = {}
    methods: dict[str, Any] = {}
    for dimension, selection in selections.items():
        for neuron_set in selection:
            for field in _FIELDS:
                key = f"{dimension}.{neuron_set.pole}.{field}"
                tensors[key] = getattr(neuron_set, field).contiguous()
        methods[dimension] = {
            "method": selection.affirm.method,
            "params": dict(selection.affirm.params),
        }
    header = {
        "format": NEURONS_FORMAT,
        "version": NEURONS_VERSION,
        "family": shape.family,
        "num_layers": str(shape.num_layers),
        "neurons_per_layer": str(shape.neurons_per_layer),
        "dimensions": json.dumps(list(selections)),
        "methods": json.dumps(methods, sort_keys=True),
        **{str(k): str(v) for k, v in (metadata or {}).items()},
    }
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), header))


def load_neuron_sets(path: str | Path, *, expect: ModelShape | None = None) -> dict[str, Selection]:
    """Read neuron sets written by :func:`save_neuron_sets` (a file or a run directory).

    Args:
        path: ``neurons.safetensors`` or the run directory holding it.
        expect: the geometry of the model the sets will be used on; a mismatch in the number
            of layers or of neurons per layer is refused.

    Raises:
        ArtifactError: the file is missing, corrupt, or made for a different model.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "neurons.safetensors"
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = dict(handle.metadata() or {})
        tensors = load_file(str(path))
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path} does not exist (run `valuelocate locate` first)") from exc
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise ArtifactError(f"{path} is corrupt or not a safetensors file: {exc}") from exc
    if header.get("format") != NEURONS_FORMAT:
        raise ArtifactError(f"{path} is not a ValueLocate neuron-set file")
    try:
        num_layers = int(header["num_layers"])
        neurons = int(header["neurons_per_layer"])
        dimensions = json.loads(header["dimensions"])
        methods = json.loads(header["methods"])
    except (KeyError, ValueError) as exc:
        raise ArtifactError(f"{path} has a damaged header: {exc!r}") from exc
    if expect is not None and (num_layers, neurons) != (
        expect.num_layers,
        expect.neurons_per_layer,
    ):
        raise ArtifactError(
            f"The neuron sets in {path} were located on a model with {num_layers} layers x "
            f"{neurons} neurons ({header.get('family')}), but this model has "
            f"{expect.num_layers} layers x {expect.neurons_per_layer} neurons "
            f"({expect.family}). Locate neurons on this model first."
        )
    out: dict[str, Selection] = {}
    for dimension in dimensions:
        sets = []
        for pole in POLES:
            try:
                fields = {f: tensors[f"{dimension}.{pole}.{f}"] for f in _FIELDS}
            except KeyError as exc:
                raise ArtifactError(f"{path} lacks {exc.args[0]}") from exc
            layer, index = fields["layer"], fields["index"]
            out_of_range = bool(((layer < 0) | (layer >= num_layers)).any()) or bool(
                ((index < 0) | (index >= neurons)).any()
            )
            if out_of_range:
                raise ArtifactError(f"{path}: {dimension}.{pole} has a neuron out of range")
            info = methods.get(dimension, {})
            sets.append(
                NeuronSet(
                    pole,
                    info.get("method", "unknown"),
                    info.get("params", {}),
                    (num_layers, neurons),
                    **fields,
                )
            )
        out[dimension] = Selection(*sets)
    return out


def neuron_sets_summary(selections: Mapping[str, Selection]) -> dict[str, Any]:
    """A readable JSON view of neuron sets: per dimension and pole, the neurons by layer."""
    out: dict[str, Any] = {}
    for dimension, selection in selections.items():
        entry: dict[str, Any] = {
            "method": selection.affirm.method,
            "params": dict(selection.affirm.params),
        }
        for neuron_set in selection:
            entry[neuron_set.pole] = _set_summary(neuron_set)
        out[dimension] = entry
    return out


def _set_summary(neuron_set: NeuronSet) -> dict[str, Any]:
    top = min(len(neuron_set), 10)
    return {
        "count": len(neuron_set),
        "by_layer": {
            str(layer): indices.tolist() for layer, indices in neuron_set.by_layer().items()
        },
        "top": [
            {
                "layer": int(neuron_set.layer[i]),
                "index": int(neuron_set.index[i]),
                "d": round(float(neuron_set.d[i]), 6),
                "p": round(float(neuron_set.p[i]), 6),
                "q95": round(float(neuron_set.q95[i]), 6),
                "effect_size": round(float(neuron_set.effect_size[i]), 6),
            }
            for i in range(top)
        ],
    }
