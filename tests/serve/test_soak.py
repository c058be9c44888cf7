"""A short soak of the server (benchmarks/soak_serve.py's code, about a minute, a few clients):
mixed steering under both rules, streams, disconnects and bad requests, on the real stories260k
model with a neuron run and a verdict; every answer's id is logged exactly once, no 5xx, every
bad request gets its 4xx, nothing is left waiting and no hook is left on the model."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import pytest
import torch

import serve_fixtures as fx
from benchmark_scripts import load
from valuelocate.architectures import model_shape
from valuelocate.artifacts.verdict import edit_tensors, write_verdict
from valuelocate.comparison.linear import vector_edit
from valuelocate.serve import build_server

lm, run_dir = fx.lm, fx.run_dir  # the shared fixtures

pytestmark = [fx.needs_stories, pytest.mark.slow]


def _soak() -> ModuleType:
    return load("soak_serve")


def _with_verdict(lm, run_dir: Path, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """A copy of the run with a verdict: a located set per direction (2% of the neurons at
    random, random deltas) and its control, as ``valuelocate run`` writes them."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    shape = model_shape(lm.model)
    total = shape.num_layers * shape.neurons_per_layer
    generator = torch.Generator().manual_seed(0)
    rows, tensors = [], {}
    for dimension in ("conservation", "self_enhancement"):
        for pole in ("affirm", "oppose"):
            rows.append({"method": "default", "dimension": dimension, "pole": pole, "gamma": 2.0})
            for part in ("edit", "control"):
                flat = torch.randperm(total, generator=generator)[: total // 50]
                edit = vector_edit(
                    range(shape.num_layers),
                    shape.neurons_per_layer,
                    flat,
                    torch.randn(flat.numel(), generator=generator),
                )
                tensors |= edit_tensors(f"{dimension}.{pole}.{part}", edit)
    write_verdict(run, {"rows": rows}, tensors, kind="located")
    return run


def test_a_minute_of_mixed_load_is_served_and_accounted_for(lm, run_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    soak = _soak()
    parts = build_server(lm, _with_verdict(lm, run_dir, tmp_path), name="soak", max_batch=8)
    rules = parts.engine.catalog.rules()
    assert {"dynamic", "random_control", "mean-diff", "mean-diff-control"} <= set(rules)
    report = soak.run_soak(
        parts,
        clients=4,
        seconds=45,
        max_tokens=12,
        seed=1,
        warmup=15,
        mix=soak.Mix(bad=0.1, disconnect=0.1),
    )
    soak.print_report(report, None)
    assert report.failures() == []
    assert report.answered >= 20 and report.bad >= 1 and report.disconnected >= 1
    assert report.steering_cache["hits"] > 0
    assert report.latency_s["p99"] >= report.latency_s["p50"] > 0
