"""The verdict's files: ``RUN_DIR/verdict/verdict.json``, ``items.jsonl`` and
``edits.safetensors``, as :func:`valuelocate.comparison.verdict.run_verdict` writes them, read
back without a model (:func:`valuelocate.run_edit`, ``valuelocate serve``, ``valuelocate export``).

``edits.safetensors`` holds the default's edit and its control per direction at gamma 1:
``{dimension}.{pole}.{edit|control}.{layer}.{index|delta}``, with ``format``, ``kind``
(the edit's kind: ``located`` for a ladder point) and ``site`` (where it adds: ``act``, or
``down_in``; files without it are ``act``) in its metadata; ``verdict.json`` holds the
gamma each direction was calibrated to (its ``default`` rows).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from valuelocate.artifacts.files import ArtifactError, atomic_write, read_json, write_json
from valuelocate.steering.mean_diff import MeanDiffEdit
from valuelocate.vocab import POLES, SITES, Site

VERDICT_DIR = "verdict"


def write_verdict(
    run_dir: str | Path,
    record: dict[str, Any],
    tensors: dict[str, Any],
    kind: str,
    site: Site = "act",
) -> None:
    """Write ``edits.safetensors`` (``tensors``, see :func:`edit_tensors`; ``kind`` and the
    edits' ``site`` in its metadata) and then ``verdict.json`` (``record``) in
    ``RUN_DIR/verdict/``."""
    folder = Path(run_dir) / VERDICT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    metadata = {"format": "1", "kind": kind, "site": site}
    atomic_write(
        folder / "edits.safetensors",
        lambda tmp: save_file(tensors, str(tmp), metadata=metadata),
    )
    write_json(folder / "verdict.json", record)


def edit_tensors(prefix: str, edit: MeanDiffEdit) -> dict[str, Any]:
    """``edit``'s tensors as ``edits.safetensors`` keeps them: ``{prefix}.{layer}.index`` and
    ``{prefix}.{layer}.delta`` (its gamma is not stored: it is written at gamma 1)."""
    out: dict[str, Any] = {}
    for layer, index in edit.indices.items():
        # int32 on disk (a layer's neuron indices are far below 2**31; read back as int64):
        # a quarter of the file for an edit of every band neuron
        out[f"{prefix}.{layer}.index"] = index.to(torch.int32).contiguous()
        out[f"{prefix}.{layer}.delta"] = edit.deltas[layer].contiguous()
    return out


def load_verdict(run_dir: str | Path) -> dict[str, Any]:
    """``RUN_DIR/verdict/verdict.json`` as written."""
    return read_json(Path(run_dir) / VERDICT_DIR / "verdict.json")


def load_default_edits(
    run_dir: str | Path,
) -> dict[tuple[str, str, bool], tuple[MeanDiffEdit, float]]:
    """Every direction's default edit and its control at gamma 1, with the gamma the verdict
    calibrated: ``(dimension, pole, control) -> (edit, gamma)``. Reads ``verdict.json`` and
    ``edits.safetensors`` once; no model is needed."""
    folder = Path(run_dir) / VERDICT_DIR
    rows = [r for r in load_verdict(run_dir)["rows"] if r["method"] == "default"]
    path = folder / "edits.safetensors"
    if not path.is_file():
        raise ArtifactError(f"{path} does not exist: the verdict stage did not finish")
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    kind = metadata.get("kind", "band")
    site = metadata.get("site", "act")
    if site not in SITES:
        raise ArtifactError(f"{path}: unknown site {site!r} in its metadata")
    tensors = load_file(str(path))
    out: dict[tuple[str, str, bool], tuple[MeanDiffEdit, float]] = {}
    for row in rows:
        gamma = float(row["gamma"])
        for control in (False, True):
            prefix = f"{row['dimension']}.{row['pole']}.{'control' if control else 'edit'}."
            indices: dict[int, Tensor] = {}
            deltas: dict[int, Tensor] = {}
            for key, value in tensors.items():
                if key.startswith(prefix):
                    layer, part = key.removeprefix(prefix).split(".")
                    if part == "index":
                        indices[int(layer)] = value.long()  # int32 on disk since 2026-12-05
                    else:
                        deltas[int(layer)] = value
            edit = MeanDiffEdit(
                dict(sorted(indices.items())),
                dict(sorted(deltas.items())),
                1.0,
                site,  # type: ignore[arg-type]  # checked against SITES above
                kind + "-control" if control else kind,
            )
            out[(row["dimension"], row["pole"], control)] = (
                edit,
                gamma if math.isfinite(gamma) else 0.0,
            )
    return out


def load_default_edit(
    run_dir: str | Path, dimension: str, pole: str, *, control: bool = False
) -> tuple[MeanDiffEdit, float]:
    """The default's edit (or its control) for one direction at gamma 1, and the gamma the
    verdict calibrated for it (see :func:`load_default_edits`)."""
    data = load_verdict(run_dir)
    if not any(
        r["method"] == "default" and r["dimension"] == dimension and r["pole"] == pole
        for r in data["rows"]
    ):
        raise ValueError(
            f"{Path(run_dir) / VERDICT_DIR / 'verdict.json'} has no default edit for "
            f"{dimension}.{pole}; it judged: "
            + ", ".join(sorted({f"{r['dimension']}.{r['pole']}" for r in data["rows"]}))
        )
    return load_default_edits(run_dir)[(dimension, pole, control)]


def run_edit(
    run_dir: str | Path,
    dimension: str,
    pole: str,
    *,
    gamma: float | None = None,
    control: bool = False,
) -> MeanDiffEdit:
    """The ``Edit`` the run's verdict used as its default for one dimension and pole.

    At the gamma the verdict calibrated to its budget unless ``gamma`` is given; with
    ``control=True`` its matched random control (the vector permuted within each layer).
    Apply it at every position, as the verdict did:
    ``with edit_neurons(model, edit, scope="all"): ...``.

    Raises:
        ArtifactError: the run has no verdict (``valuelocate run`` writes one).
        ValueError: the verdict did not judge that dimension and pole.

    Example:
        >>> edit = run_edit("runs/smol", "conservation", "affirm")
        >>> with edit_neurons(model, edit, scope="all"):
        ...     out = model.generate(**batch, max_new_tokens=40)
    """
    if pole not in POLES:
        raise ValueError(f"Unknown pole {pole!r}; expected affirm or oppose")
    edit, calibrated = load_default_edit(run_dir, dimension, pole, control=control)
    return edit.with_gamma(calibrated if gamma is None else gamma)


__all__ = [
    "VERDICT_DIR",
    "edit_tensors",
    "load_default_edit",
    "load_default_edits",
    "load_verdict",
    "run_edit",
    "write_verdict",
]
