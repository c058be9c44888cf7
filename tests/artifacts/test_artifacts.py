"""Tests for valuelocate.artifacts: atomic files, the typed JSON records, the neuron-set file.

Sections mirror the package: ``artifacts.files``, ``artifacts.records``, ``artifacts.neurons``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from valuelocate.architectures import ModelShape
from valuelocate.artifacts.files import ArtifactError, atomic_write, read_json, write_json
from valuelocate.artifacts.neurons import NEURONS_FORMAT, load_neuron_sets, save_neuron_sets
from valuelocate.artifacts.records import RunManifest, RunSummary
from valuelocate.selection.methods import DeltaP
from valuelocate.stats.accumulator import NeuronStats

REFERENCE = Path(__file__).parents[1] / "reference"

# ---------------------------------------------------------------------- artifacts.files


def test_atomic_write_replaces_whole_files_only(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "file.json"
    write_json(target, {"a": 1})
    assert read_json(target) == {"a": 1}

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        atomic_write(target, fail)
    assert read_json(target) == {"a": 1}, "the old file survives a failed write"
    assert [p.name for p in target.parent.iterdir()] == ["file.json"], "no temporary left"


def test_read_json_names_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="nothing.json does not exist"):
        read_json(tmp_path / "nothing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="bad.json is corrupt"):
        read_json(tmp_path / "bad.json")


# ---------------------------------------------------------------------- artifacts.records


def manifest_json() -> dict:
    """A manifest as ``valuelocate locate`` writes it today, keys in the file's order."""
    return {
        "version": 1,
        "kind": "locate",
        "status": "complete",
        "model": {
            "id": "default",
            "source": "/cache/smol",
            "revision": None,
            "config_hash": "ab" * 32,
            "family": "llama",
            "num_layers": 30,
            "neurons_per_layer": 1536,
        },
        "dataset": {
            "hash": "cd" * 32,
            "prompts": {"conservation.affirm": ["p1", "p2"], "conservation.oppose": ["p1", "p2"]},
            "descriptions": {
                "conservation.affirm": ["d1", "d1"],
                "conservation.oppose": ["d3", "d4"],
            },
        },
        "template": "### Value: {description}\n{question}",
        "chat_template": True,
        "options": {"model": "default", "site": "down_in", "method_params": {"threshold": 0.1}},
        "seed": 0,
        "versions": {"torch": "2.13.0", "valuelocate": "0.1.0"},
        "command": "valuelocate locate --out runs/x",
        "world_size": 1,
    }


def test_manifest_round_trips_exactly(tmp_path: Path) -> None:
    data = manifest_json()
    manifest = RunManifest.from_json(data)
    assert manifest.model.num_layers == 30 and manifest.model.revision is None
    assert manifest.options["site"] == "down_in" and manifest.dataset.prompts["conservation.affirm"]
    assert json.dumps(manifest.to_json()) == json.dumps(data), "same keys, values and order"
    manifest.write(tmp_path / "manifest.json")
    assert (tmp_path / "manifest.json").read_text() == json.dumps(data, indent=2)
    assert RunManifest.read(tmp_path) == manifest  # a run directory or the file itself


def test_manifest_before_world_size_and_with_arch() -> None:
    old = manifest_json()
    del old["world_size"]
    assert RunManifest.from_json(old).world_size == 1
    with_arch = {**manifest_json(), "arch": {"layers": "transformer.h", "gated": False}}
    assert RunManifest.from_json(with_arch).to_json() == with_arch
    assert "arch" not in RunManifest.from_json(manifest_json()).to_json()


def test_manifest_errors_name_the_key() -> None:
    data = manifest_json()
    del data["model"]["config_hash"]
    with pytest.raises(ArtifactError, match="manifest.model lacks 'config_hash'"):
        RunManifest.from_json(data)
    with pytest.raises(ArtifactError, match="'seed' is '0', not a int"):
        RunManifest.from_json({**manifest_json(), "seed": "0"})
    with pytest.raises(ArtifactError, match="'num_layers' is True"):
        bad = manifest_json()
        bad["model"]["num_layers"] = True
        RunManifest.from_json(bad)


def test_summary_round_trips_the_reference_file(tmp_path: Path) -> None:
    data = json.loads((REFERENCE / "summary.json").read_text())
    summary = RunSummary.from_json(data)
    assert summary.to_json() == data
    conservation = summary.dimensions["conservation"]["affirm"]
    assert sum(conservation.per_layer) == conservation.count
    assert conservation.percent == pytest.approx(100 * conservation.count / summary.total_neurons)
    ordered = summary.to_json()
    assert list(ordered) == [
        "total_neurons",
        "num_layers",
        "neurons_per_layer",
        "dimensions",
        "overlap",
    ]
    assert list(ordered["dimensions"]["conservation"]["affirm"]) == [
        "count",
        "percent",
        "per_layer",
    ]
    summary.write(tmp_path / "summary.json")
    assert RunSummary.read(tmp_path) == summary
    del data["dimensions"]["conservation"]["oppose"]["percent"]
    with pytest.raises(ArtifactError, match="conservation.oppose lacks 'percent'"):
        RunSummary.from_json(data)


# ---------------------------------------------------------------------- artifacts.neurons


def _selections() -> dict:
    p_affirm = torch.tensor([[7, 4, 2], [3, 3, 5]], dtype=torch.float64) / 8
    p_oppose = torch.tensor([[1, 4, 3], [1, 3, 0]], dtype=torch.float64) / 8
    stats = []
    for p in (p_affirm, p_oppose):
        s = NeuronStats(2, 3)
        # 8 tokens per layer: the first round(8p) of each neuron active (1.0), the rest not.
        values = (torch.arange(8)[:, None, None] < torch.round(p * 8)[None]).double() * 2 - 1
        for layer in range(2):
            s.add(layer, values[None, :, layer])
        s.end_batch()
        stats.append(s)
    return {
        "conservation": DeltaP(min_required=0.5)(*stats),
        "openness_to_change": DeltaP(min_required=0, threshold=0.25)(*stats),  # empty oppose
    }


def test_neuron_sets_round_trip_exactly(tmp_path: Path) -> None:
    selections = _selections()
    assert len(selections["openness_to_change"].oppose) == 0
    shape = ModelShape("llama", 2, 3)
    path = tmp_path / "neurons.safetensors"
    save_neuron_sets(path, selections, shape, metadata={"site": "down_in"})
    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata()
    assert header["format"] == NEURONS_FORMAT and header["site"] == "down_in"
    assert json.loads(header["dimensions"]) == ["conservation", "openness_to_change"]
    loaded = load_neuron_sets(tmp_path, expect=shape)
    assert list(loaded) == list(selections)
    for dimension, selection in selections.items():
        for before, after in zip(selection, loaded[dimension], strict=True):
            assert (after.pole, after.method, after.shape) == (before.pole, before.method, (2, 3))
            assert dict(after.params) == dict(before.params)
            for name in ("layer", "index", "d", "p", "q95", "effect_size"):
                # Bit for bit (NaN effect sizes included: one prompt per pole here).
                torch.testing.assert_close(
                    getattr(after, name), getattr(before, name), rtol=0, atol=0, equal_nan=True
                )


def test_neuron_set_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "neurons.safetensors"
    with pytest.raises(ArtifactError, match="does not exist"):
        load_neuron_sets(path)
    save_neuron_sets(path, _selections(), ModelShape("llama", 2, 3))
    with pytest.raises(ArtifactError, match="2 layers x 3 neurons"):
        load_neuron_sets(path, expect=ModelShape("llama", 30, 1536))
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(ArtifactError, match="garbage.safetensors is corrupt"):
        load_neuron_sets(garbage)


def test_reference_neuron_file_loads() -> None:
    sets = load_neuron_sets(REFERENCE / "neurons.safetensors")
    assert sorted(sets) == ["conservation", "self_enhancement"]
    assert sets["conservation"].affirm.method == "delta-p"
    assert len(sets["conservation"].affirm) >= 10  # min_required=10 in the reference run
