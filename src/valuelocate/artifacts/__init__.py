"""What a run leaves on disk, written atomically, read back with checks.

A run directory (``RUN_DIR``) holds:

- ``manifest.json`` (:class:`RunManifest`): model id, revision, config hash and neuron
  geometry; dataset hash; template; every option; seed; library versions; the command line;
  status.
- ``stats/{dimension}.{pole}.safetensors``: the finished statistics of each pole.
- ``checkpoints/{dimension}.{pole}.safetensors``: partial statistics of an unfinished pole,
  with the number of prompts done in their metadata (removed when the pole finishes).
- ``neurons.safetensors``: the selected neuron sets (``{dimension}.{pole}.{field}``, see
  :mod:`~valuelocate.artifacts.neurons`) and the sparsity ladders (``ladder.{dimension}.*``,
  see :mod:`~valuelocate.artifacts.ladders`), and ``neurons.json``, a readable summary of both.
- ``summary.json`` (:class:`RunSummary`): sparsity per dimension and pole, layer profile,
  overlaps.

Modules: :mod:`~valuelocate.artifacts.files` (atomic writes, JSON, :class:`ArtifactError`),
:mod:`~valuelocate.artifacts.records` (the typed JSON files),
:mod:`~valuelocate.artifacts.neurons` (the neuron-set file),
:mod:`~valuelocate.artifacts.ladders` (the sparsity ladders in it),
:mod:`~valuelocate.artifacts.verdict` (``verdict/``: the verdict's record and edits, read back
by ``run_edit`` and ``serve``) and :mod:`~valuelocate.artifacts.export` (``export_run``: a run
as a folder for the Hub). The last two are imported by their module path.

Example:
    >>> manifest = RunManifest.read("runs/smol")
    >>> sets = load_neuron_sets("runs/smol", expect=model_shape(lm.model))
"""

from valuelocate.artifacts.files import (
    ArtifactError,
    atomic_write,
    library_versions,
    read_json,
    write_json,
)
from valuelocate.artifacts.ladders import load_ladders, save_ladders
from valuelocate.artifacts.neurons import (
    NEURONS_FORMAT,
    NEURONS_VERSION,
    load_neuron_sets,
    neuron_sets_summary,
    save_neuron_sets,
)
from valuelocate.artifacts.records import (
    MANIFEST_VERSION,
    DatasetRecord,
    ModelRecord,
    PoleSparsity,
    RunManifest,
    RunSummary,
)

__all__ = [
    "MANIFEST_VERSION",
    "NEURONS_FORMAT",
    "NEURONS_VERSION",
    "ArtifactError",
    "DatasetRecord",
    "ModelRecord",
    "PoleSparsity",
    "RunManifest",
    "RunSummary",
    "atomic_write",
    "library_versions",
    "load_ladders",
    "load_neuron_sets",
    "neuron_sets_summary",
    "read_json",
    "save_ladders",
    "save_neuron_sets",
    "write_json",
]
