"""``valuelocate export``: a real run on the 260k-parameter Llama, exported, parsed, loaded back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard

from report_fixture import make_run
from valuelocate.artifacts import ArtifactError, RunManifest, load_neuron_sets, write_json
from valuelocate.artifacts.export import EXPORT_FORMAT, export_run
from valuelocate.locating import LocateOptions, locate
from valuelocate.selection import SET_FIELDS

from tiny_models import STORIES

pytestmark = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    options = LocateOptions(
        model=str(STORIES),
        dimensions=("conservation", "self_enhancement"),
        prompts_per_pole=3,
        max_new_tokens=4,
        method_params={"min_required": 5, "threshold": 0.05},
    )
    return locate(options, tmp_path_factory.mktemp("export") / "run").run_dir


def _sets_equal(a: dict, b: dict) -> None:  # type: ignore[type-arg]
    assert a.keys() == b.keys()
    for dim in a:
        for pole in ("affirm", "oppose"):
            x, y = getattr(a[dim], pole), getattr(b[dim], pole)
            assert (x.method, dict(x.params), x.shape) == (y.method, dict(y.params), y.shape)
            for field in SET_FIELDS:
                assert torch.equal(getattr(x, field), getattr(y, field)), (dim, pole, field)


def test_export_then_load_equals_the_run(run_dir: Path, tmp_path: Path) -> None:
    out = export_run(run_dir, tmp_path / "hub")
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "config.json",
        "manifest.json",
        "neurons.safetensors",
        "summary.json",
    ]
    assert (out / "neurons.safetensors").read_bytes() == (
        run_dir / "neurons.safetensors"
    ).read_bytes()
    _sets_equal(load_neuron_sets(run_dir), load_neuron_sets(out))


def test_card_parses_with_the_expected_metadata(run_dir: Path, tmp_path: Path) -> None:
    out = export_run(run_dir, tmp_path / "hub")
    manifest = RunManifest.read(run_dir)
    card = ModelCard.load(out / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "valuelocate"
    assert "neuron-sets" in data["tags"]
    meta = data["valuelocate"]
    assert meta["model_id"] == str(STORIES)
    assert meta["config_hash"] == manifest.model.config_hash
    assert (meta["num_layers"], meta["neurons_per_layer"]) == (
        manifest.model.num_layers,
        manifest.model.neurons_per_layer,
    )
    assert meta["dimensions"] == ["conservation", "self_enhancement"]
    summary = json.loads((run_dir / "summary.json").read_text())
    count = summary["dimensions"]["conservation"]["affirm"]["count"]
    assert f"| conservation | affirm | {count} |" in card.text
    assert "Not evaluated" in card.text and "load_neuron_sets" in card.text
    config = json.loads((out / "config.json").read_text())
    assert config["format"] == EXPORT_FORMAT
    located = load_neuron_sets(run_dir)["conservation"].affirm
    assert config["methods"]["conservation"] == {
        "method": "delta-p",
        "params": json.loads(json.dumps(dict(located.params))),
    }
    assert config["methods"]["conservation"]["params"]["threshold"] == 0.05
    assert config["contrast"]["source"] == "ValueInsight"


def test_verdict_of_an_evaluated_run(run_dir: Path, tmp_path: Path) -> None:
    evaluated = tmp_path / "evaluated"
    subprocess.run(["cp", "-r", str(run_dir), str(evaluated)], check=True)
    results = json.loads((make_run(tmp_path) / "evaluation" / "results.json").read_text())
    (evaluated / "evaluation").mkdir()
    write_json(evaluated / "evaluation" / "results.json", results)
    card = ModelCard.load(export_run(evaluated, tmp_path / "hub") / "README.md")
    # The fixture's affirm rows at gamma 1 beat random neurons with p < 0.01.
    assert "| conservation | affirm | 1.0 |" in card.text
    assert "as predicted" in card.text


def test_cli_export_and_steer_style_loading(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "valuelocate", "export", str(run_dir), str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 2 and "not empty" in again.stderr
    assert "Traceback" not in again.stderr


def test_hub_id_offline_names_local_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ArtifactError, match="folder written by `valuelocate export`") as info:
        load_neuron_sets("nobody-here/no-such-neurons")
    assert "nobody-here/no-such-neurons" in str(info.value)


def test_hub_id_from_the_local_hub_cache(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repo id resolves through huggingface_hub's own cache layout, offline."""
    out = export_run(run_dir, tmp_path / "hub")
    cache = tmp_path / "hf-cache"
    repo = cache / "models--someone--value-neurons"
    commit = "0" * 40
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for f in out.iterdir():
        (snapshot / f.name).write_bytes(f.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    _sets_equal(load_neuron_sets(run_dir), load_neuron_sets("someone/value-neurons"))


def test_unfinished_run_and_nonempty_target_are_refused(run_dir: Path, tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(ArtifactError, match="not empty"):
        export_run(run_dir, busy)
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    with pytest.raises(ArtifactError, match="not a run directory"):
        export_run(tmp_path / "nothing", tmp_path / "out")
    assert not (tmp_path / "out").exists()
