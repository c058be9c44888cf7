"""The sparsity ladders on disk, inside the run's ``neurons.safetensors``.

Beside the neuron sets (:mod:`~valuelocate.artifacts.neurons`), each dimension's
:class:`~valuelocate.steering.ladder.Ladder` is three tensors, ``ladder.{dimension}.order``
(int64), ``.effect`` and ``.delta`` (float64), all ``[band_size]``, and the header key
``ladders``: JSON, per dimension ``layers``, ``neurons_per_layer``, ``total_neurons``, ``sizes``,
``labels``, ``fractions``, ``items``, ``contrast``, ``item_ids`` and ``digest``. The per-item
differences the ladder was ranked by are not kept (3.6 MB a dimension on SmolLM2, read only by
the verdict's label shuffles): the verdict recomputes them from ``item_ids`` and checks them
against ``digest`` (:func:`~valuelocate.steering.ladder.differences_digest`). ``neurons.json``
gets a readable ``ladder`` entry per dimension (:func:`ladder_summary`).

Example:
    >>> save_ladders(run_dir, ladders)
    >>> load_ladders(run_dir)["conservation"].neurons(0)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import Tensor

from valuelocate.artifacts.files import ArtifactError, atomic_write, read_json, write_json
from valuelocate.artifacts.neurons import LADDER_PREFIX
from valuelocate.steering.ladder import Ladder

LADDERS_KEY = "ladders"
LADDER_TENSORS = ("order", "effect", "delta")
_HEADER_FIELDS = ("layers", "neurons_per_layer", "total_neurons", "sizes", "labels",
                  "fractions", "items", "contrast")  # fmt: skip


def _neurons_file(run_dir: str | Path) -> Path:
    path = Path(run_dir)
    return path / "neurons.safetensors" if path.is_dir() else path


def _read(path: Path) -> tuple[dict[str, str], dict[str, Tensor]]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = dict(handle.metadata() or {})
        return header, load_file(str(path))
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path} does not exist (run `valuelocate locate` first)") from exc
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise ArtifactError(f"{path} is corrupt or not a safetensors file: {exc}") from exc


def _save(path: Path, tensors: dict[str, Tensor], header: dict[str, str]) -> None:
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), header))


def save_ladders(run_dir: str | Path, ladders: Mapping[str, Ladder]) -> None:
    """Write ``ladders`` into the run's ``neurons.safetensors`` (rewritten atomically, every
    other key and header field kept; a dimension's earlier ladder is replaced) and the
    ladders' view into ``neurons.json``.

    Raises:
        ArtifactError: the run has no neuron-set file yet.
        ValueError: a ladder for another model than the file's.
    """
    run_dir = Path(run_dir)
    path = run_dir / "neurons.safetensors"
    header, tensors = _read(path)
    geometry = (int(header.get("num_layers", -1)), int(header.get("neurons_per_layer", -1)))
    entries = json.loads(header.get(LADDERS_KEY, "{}"))
    for dimension, ladder in ladders.items():
        if (
            ladder.total_neurons != geometry[0] * geometry[1]
            or ladder.neurons_per_layer != (geometry[1])
        ):
            raise ValueError(f"The {dimension} ladder is for another model than {path}")
        for name in LADDER_TENSORS:
            tensors[f"{LADDER_PREFIX}{dimension}.{name}"] = getattr(ladder, name).contiguous()
        entries[dimension] = {
            "layers": list(ladder.layers),
            "neurons_per_layer": ladder.neurons_per_layer,
            "total_neurons": ladder.total_neurons,
            "sizes": list(ladder.sizes),
            "labels": list(ladder.labels),
            "fractions": list(ladder.fractions),
            "items": ladder.items,
            "contrast": ladder.contrast,
            "item_ids": list(ladder.item_ids),
            "digest": ladder.digest,
        }
    header[LADDERS_KEY] = json.dumps(entries, sort_keys=True)
    _save(path, tensors, header)
    summary = run_dir / "neurons.json"
    readable: dict[str, Any] = read_json(summary) if summary.is_file() else {}
    for dimension, ladder in ladders.items():
        readable.setdefault(dimension, {})["ladder"] = ladder_summary(ladder)
    write_json(summary, readable)


def load_ladders(run_dir: str | Path) -> dict[str, Ladder]:
    """Every dimension's ladder in a run's ``neurons.safetensors`` (a run directory, an
    exported folder, or the file).

    Raises:
        ArtifactError: the file is missing or corrupt, holds no ladder, or a malformed one;
            the message names the file.
    """
    path = _neurons_file(run_dir)
    if not path.is_file():
        raise ArtifactError(f"{path} does not exist (run `valuelocate locate` first)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = dict(handle.metadata() or {})
            keys = set(handle.keys())
            raw = header.get(LADDERS_KEY)
            if raw is None:
                raise ArtifactError(
                    f"{path} holds no sparsity ladder (located before ladders existed, or with "
                    "--no-ladder); run `valuelocate locate --resume` on the run to add them"
                )
            entries = json.loads(raw)
            if not isinstance(entries, dict):
                raise ValueError(f"header {LADDERS_KEY!r} is not a JSON object")
            out = {}
            for dimension, entry in entries.items():
                names = [f"{LADDER_PREFIX}{dimension}.{n}" for n in LADDER_TENSORS]
                absent = [n for n in names if n not in keys]
                if absent:
                    raise ValueError(f"tensor {absent[0]} is missing")
                fields = {k: entry[k] for k in _HEADER_FIELDS}
                out[dimension] = Ladder(
                    dimension=dimension,
                    layers=tuple(int(i) for i in fields["layers"]),
                    neurons_per_layer=int(fields["neurons_per_layer"]),
                    total_neurons=int(fields["total_neurons"]),
                    order=handle.get_tensor(names[0]),
                    effect=handle.get_tensor(names[1]),
                    delta=handle.get_tensor(names[2]),
                    sizes=tuple(int(s) for s in fields["sizes"]),
                    labels=tuple(str(s) for s in fields["labels"]),
                    fractions=tuple(float(f) for f in fields["fractions"]),
                    items=int(fields["items"]),
                    contrast=str(fields["contrast"]),
                    # absent from runs written before the differences left the run
                    item_ids=tuple(str(i) for i in entry.get("item_ids", [])),
                    digest=str(entry.get("digest", "")),
                )
    except ArtifactError:
        raise
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise ArtifactError(f"{path} is corrupt or not a safetensors file: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArtifactError(f"{path} has a malformed sparsity ladder: {exc!r}") from exc
    return out


def ladder_summary(ladder: Ladder) -> dict[str, Any]:
    """A readable view of a ladder: its band and, per point, size, label, fraction and the
    neurons per layer."""
    return {
        "contrast": ladder.contrast,
        "items": ladder.items,
        "layers": list(ladder.layers),
        "total_neurons": ladder.total_neurons,
        "points": [
            {
                "label": label,
                "size": size,
                "fraction": round(fraction, 8),
                "per_layer": {str(layer): count for layer, count in ladder.counts(k).items()},
            }
            for k, (label, size, fraction) in enumerate(
                zip(ladder.labels, ladder.sizes, ladder.fractions, strict=True)
            )
        ],
    }
