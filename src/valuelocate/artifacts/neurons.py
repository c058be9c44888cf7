"""The one neuron-set file: every dimension's two sets in a run's ``neurons.safetensors``.

Tensors ``{dimension}.{pole}.{field}`` (``field`` in :data:`~valuelocate.selection.SET_FIELDS`)
and a JSON header: format and version, the model's family and geometry, the dimensions, each
dimension's selection method and parameters, plus free-form metadata (the run's model, config
hash and site). :func:`save_neuron_sets` writes it, :func:`load_neuron_sets` reads it back
with checks; ``neurons.json`` (:func:`neuron_sets_summary`) is its readable view. The same file
may also hold the sparsity ladders (keys ``ladder.*`` and header ``ladders``, see
:mod:`~valuelocate.artifacts.ladders`), which the neuron-set reader passes over.

Example:
    >>> save_neuron_sets(run_dir / "neurons.safetensors", {"conservation": selection}, shape)
    >>> load_neuron_sets(run_dir, expect=shape)["conservation"].affirm.by_layer()
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import safe_open, save_file

from valuelocate.architectures import ModelShape
from valuelocate.artifacts.files import ArtifactError, atomic_write
from valuelocate.selection import POLES, SET_FIELDS, NeuronSet, Selection

NEURONS_FORMAT = "valuelocate.NeuronSets"
NEURONS_VERSION = "1"
# Tensors of the sparsity ladders (valuelocate.artifacts.ladders), not of the neuron sets.
LADDER_PREFIX = "ladder."


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
            for name in SET_FIELDS:
                key = f"{dimension}.{neuron_set.pole}.{name}"
                tensors[key] = getattr(neuron_set, name).contiguous()
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
        path: ``neurons.safetensors``, the run directory or exported folder holding it
            (``valuelocate export``), or a Hugging Face Hub repo id of an exported folder.
        expect: the geometry of the model the sets will be used on; a mismatch in the number
            of layers or of neurons per layer is refused.

    Raises:
        ArtifactError: the file is missing, corrupt, or made for a different model.
    """
    path = resolve_neurons(path)
    if path.is_dir():
        path = path / "neurons.safetensors"
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = dict(handle.metadata() or {})
            names = handle.keys()  # a safe_open handle is not iterable itself
            # The ladders' tensors are not neuron sets: they are not even read.
            tensors = {k: handle.get_tensor(k) for k in names if not k.startswith(LADDER_PREFIX)}
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path} does not exist (run `valuelocate locate` first)") from exc
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise ArtifactError(f"{path} is corrupt or not a safetensors file: {exc}") from exc
    if header.get("format") != NEURONS_FORMAT:
        raise ArtifactError(f"{path} is not a ValueLocate neuron-set file")
    if header.get("version") != NEURONS_VERSION:  # issue 13: another version is refused
        raise ArtifactError(
            f"{path} has version {header.get('version')!r}; this code reads {NEURONS_VERSION}"
        )
    for key, tensor in tensors.items():  # issue 13: wrong shapes and NaN/inf are refused
        if tensor.dim() != 1:
            raise ArtifactError(f"{path}: {key} has shape {tuple(tensor.shape)}, not a vector")
        if tensor.is_floating_point():
            # An effect size is NaN where it is undefined (fewer than two prompts, or no
            # variance): that is data. Anything else non-finite is damage.
            bad = tensor.isinf() if key.endswith(".effect_size") else ~tensor.isfinite()
            if bool(bad.any()):
                raise ArtifactError(f"{path}: {key} holds NaN or inf")
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
                fields = {f: tensors[f"{dimension}.{pole}.{f}"] for f in SET_FIELDS}
            except KeyError as exc:
                raise ArtifactError(f"{path} lacks {exc.args[0]}") from exc
            layer, index = fields["layer"], fields["index"]
            if len({len(t) for t in fields.values()}) != 1:  # issue 13
                raise ArtifactError(f"{path}: the fields of {dimension}.{pole} differ in length")
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


# --- exported folders and Hub repos (issue 13) ---
def resolve_neurons(path: str | Path) -> Path:
    """A local path for ``path``: itself when it exists, else a Hub repo id fetched.

    A string shaped like ``owner/name`` that is no local path is fetched with
    ``huggingface_hub`` (only the export's small files); offline or unknown, the error names
    what local paths are accepted.
    """
    local = Path(path)
    text = str(path)
    parts = text.split("/")
    if local.exists() or len(parts) != 2 or not all(parts) or text.startswith((".", "~")):
        return local
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(
            text,
            allow_patterns=[
                "neurons.safetensors",
                "manifest.json",
                "summary.json",
                "config.json",
                "README.md",
                "verdict/*",
            ],
        )
    except Exception as exc:  # noqa: BLE001 - offline, unknown repo, network: all one answer
        raise ArtifactError(
            f"{text} is not a local path, and fetching it as a Hugging Face Hub repo failed "
            f"({type(exc).__name__}); give a run directory, a folder written by "
            "`valuelocate export`, or a neurons.safetensors file"
        ) from exc
    return Path(folder)


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
