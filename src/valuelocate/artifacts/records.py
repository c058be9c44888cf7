"""A run's JSON files as typed values: ``manifest.json`` and ``summary.json``.

``RunManifest.read(run_dir)`` and ``RunSummary.read(run_dir)`` read them with checks (a
missing or mistyped key is an :class:`~valuelocate.artifacts.ArtifactError` naming it);
``to_json()`` is exactly the file's content, key for key and in the same order, so a reader
gets attributes instead of ``dict.get`` chains and a writer cannot drift from the format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from valuelocate.artifacts.files import ArtifactError, read_json, write_json

MANIFEST_VERSION = 1


_T = TypeVar("_T")


def _need(data: Mapping[str, Any], key: str, kind: type[_T], where: str) -> _T:
    """``data[key]``, which must be a ``kind``; an :class:`ArtifactError` naming it otherwise."""
    if not isinstance(data, Mapping) or key not in data:
        raise ArtifactError(f"{where} lacks {key!r}")
    value = data[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ArtifactError(f"{where}: {key!r} is {value!r}, not a {kind.__name__}")
    return value


@dataclass(frozen=True, kw_only=True)
class ModelRecord:
    """Which model a run used, and its neuron geometry (``manifest.json``'s ``model``)."""

    id: str  # what the user asked for: ``default``, a folder or a hub id
    source: str  # the folder or hub id actually loaded
    revision: str | None
    config_hash: str  # SHA-256 of the config: a resume or an evaluation checks it
    family: str
    num_layers: int
    neurons_per_layer: int


@dataclass(frozen=True, kw_only=True)
class DatasetRecord:
    """Which prompts each pole answered (``manifest.json``'s ``dataset``)."""

    hash: str  # the shipped dataset's hash, or ``custom:<sha256>`` of the user's files
    prompts: dict[str, list[str]]  # "{dimension}.{pole}" -> prompt ids, in order
    descriptions: dict[str, list[str]]  # "{dimension}.{pole}" -> paired description ids


@dataclass(kw_only=True)
class RunManifest:
    """``manifest.json``: everything that decides a locating run's numbers.

    ``to_json()`` is the file's content, key for key and in today's order; ``from_json``
    reads it back (a manifest written before ``world_size`` was recorded reads as 1).

    Example:
        >>> manifest = RunManifest.read(run_dir / "manifest.json")
        >>> manifest.model.config_hash, manifest.options["site"]
    """

    version: int = MANIFEST_VERSION
    kind: str = "locate"
    status: str = "running"  # ``complete`` once the neuron sets are written
    model: ModelRecord
    dataset: DatasetRecord
    template: str  # the locating prompt template
    chat_template: bool  # whether the model's chat template wrapped the prompts
    options: dict[str, Any]  # the locate options as JSON (what must match for a resume)
    seed: int
    versions: dict[str, str]  # library versions (:func:`library_versions`)
    command: str  # the command line that started the run
    world_size: int = 1  # processes under torchrun
    arch: dict[str, Any] | None = None  # an ArchSpec override's fields; omitted when None
    machine: dict[str, Any] | None = None  # the machine index (valuelocate.machine); optional

    def to_json(self) -> dict[str, Any]:
        """The manifest as JSON-ready data, in the file's key order."""
        data: dict[str, Any] = {
            "version": self.version,
            "kind": self.kind,
            "status": self.status,
            "model": dict(vars(self.model)),
            "dataset": {
                "hash": self.dataset.hash,
                "prompts": self.dataset.prompts,
                "descriptions": self.dataset.descriptions,
            },
            "template": self.template,
            "chat_template": self.chat_template,
            "options": self.options,
            "seed": self.seed,
            "versions": self.versions,
            "command": self.command,
            "world_size": self.world_size,
        }
        if self.arch is not None:
            data["arch"] = self.arch
        if self.machine is not None:
            data["machine"] = self.machine
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, where: str = "manifest") -> RunManifest:
        """Read :meth:`to_json`'s data; a missing or mistyped key is an :class:`ArtifactError`."""
        model = _need(data, "model", dict, where)
        dataset = _need(data, "dataset", dict, where)
        if data.get("version") != MANIFEST_VERSION:  # issue 13: another version is refused
            raise ArtifactError(
                f"{where} has version {data.get('version')!r}; this ValueLocate reads version "
                f"{MANIFEST_VERSION}"
            )
        revision, arch, machine = model.get("revision"), data.get("arch"), data.get("machine")
        in_model, in_dataset = f"{where}.model", f"{where}.dataset"
        return cls(
            version=_need(data, "version", int, where),
            kind=_need(data, "kind", str, where),
            status=_need(data, "status", str, where),
            model=ModelRecord(
                id=_need(model, "id", str, in_model),
                source=_need(model, "source", str, in_model),
                revision=None if revision is None else str(revision),
                config_hash=_need(model, "config_hash", str, in_model),
                family=_need(model, "family", str, in_model),
                num_layers=_need(model, "num_layers", int, in_model),
                neurons_per_layer=_need(model, "neurons_per_layer", int, in_model),
            ),
            dataset=DatasetRecord(
                hash=_need(dataset, "hash", str, in_dataset),
                prompts=dict(_need(dataset, "prompts", dict, in_dataset)),
                descriptions=dict(_need(dataset, "descriptions", dict, in_dataset)),
            ),
            template=_need(data, "template", str, where),
            chat_template=_need(data, "chat_template", bool, where),
            options=dict(_need(data, "options", dict, where)),
            seed=_need(data, "seed", int, where),
            versions=dict(_need(data, "versions", dict, where)),
            command=_need(data, "command", str, where),
            world_size=_need(data, "world_size", int, where) if "world_size" in data else 1,
            arch=None if arch is None else dict(arch),
            machine=None if machine is None else dict(machine),
        )

    @classmethod
    def read(cls, path: str | Path) -> RunManifest:
        """Read ``manifest.json`` (a file or the run directory holding it)."""
        path = Path(path)
        path = path / "manifest.json" if path.is_dir() else path
        return cls.from_json(read_json(path), where=str(path))

    def write(self, path: str | Path) -> None:
        """Atomically write the manifest to ``path``."""
        write_json(Path(path), self.to_json())


@dataclass(frozen=True, kw_only=True)
class PoleSparsity:
    """One pole's share of the neurons: how many, what percent, how many in each layer."""

    count: int
    percent: float
    per_layer: list[int]  # [num_layers], layer 0 first


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """``summary.json``: sparsity per dimension and pole, the layer profile, the overlaps.

    ``overlap`` holds Jaccard indices: ``overlap["all"]["{dim}.{pole}"]["{dim}.{pole}"]`` over
    every set, and ``overlap[pole][dim][dim]`` between the dimensions' sets of one pole.

    Example:
        >>> summary = RunSummary.read(run_dir / "summary.json")
        >>> summary.dimensions["conservation"]["affirm"].percent
    """

    total_neurons: int
    num_layers: int
    neurons_per_layer: int
    dimensions: dict[str, dict[str, PoleSparsity]] = field(default_factory=dict)
    overlap: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON-ready data, in the file's key order."""
        return {
            "total_neurons": self.total_neurons,
            "num_layers": self.num_layers,
            "neurons_per_layer": self.neurons_per_layer,
            "dimensions": {
                dim: {pole: dict(vars(info)) for pole, info in poles.items()}
                for dim, poles in self.dimensions.items()
            },
            "overlap": self.overlap,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, where: str = "summary") -> RunSummary:
        """Read :meth:`to_json`'s data; a missing or mistyped key is an :class:`ArtifactError`."""
        dimensions: dict[str, dict[str, PoleSparsity]] = {}
        for dim, poles in _need(data, "dimensions", dict, where).items():
            dimensions[dim] = {}
            for pole, info in poles.items():
                here = f"{where}.dimensions.{dim}.{pole}"
                dimensions[dim][pole] = PoleSparsity(
                    count=_need(info, "count", int, here),
                    percent=_need(info, "percent", float, here),
                    per_layer=[int(c) for c in _need(info, "per_layer", list, here)],
                )
        return cls(
            total_neurons=_need(data, "total_neurons", int, where),
            num_layers=_need(data, "num_layers", int, where),
            neurons_per_layer=_need(data, "neurons_per_layer", int, where),
            dimensions=dimensions,
            overlap=dict(_need(data, "overlap", dict, where)),
        )

    @classmethod
    def read(cls, path: str | Path) -> RunSummary:
        """Read ``summary.json`` (a file or the run directory holding it)."""
        path = Path(path)
        path = path / "summary.json" if path.is_dir() else path
        return cls.from_json(read_json(path), where=str(path))

    def write(self, path: str | Path) -> None:
        """Atomically write the summary to ``path``."""
        write_json(Path(path), self.to_json())
