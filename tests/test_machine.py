"""The machine index (`valuelocate.machine`): measured on a real model, recorded in the
manifest and shown in the report's run details."""

from __future__ import annotations

import dataclasses

from valuelocate.artifacts import RunManifest
from valuelocate.machine import measure_machine
from valuelocate.reporting.html import details_section
from valuelocate.reporting.load import load_run


def test_the_index_times_a_fixed_bare_forward(stories_lm) -> None:  # type: ignore[no-untyped-def]
    index = measure_machine(stories_lm, batch=4, length=16, repeats=3)
    assert len(index.seconds) == 3 and all(s > 0 for s in index.seconds)
    median = sorted(index.seconds)[1]
    assert index.tokens_per_s == 4 * 16 / median
    assert "tokens/s" in index.line() and "median of 3" in index.line()
    assert index.threads >= 1 and index.device == "cpu"


def test_the_index_goes_into_the_manifest_and_the_report(stories_lm, down_in_run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    index = measure_machine(stories_lm, batch=2, length=8, repeats=1)
    manifest = RunManifest.read(down_in_run)
    assert manifest.machine is None  # a plain `locate` run records none
    run = tmp_path / "run"
    run.mkdir()
    for name in ("summary.json", "neurons.json"):
        (run / name).write_bytes((down_in_run / name).read_bytes())
    dataclasses.replace(manifest, machine=index.to_json()).write(run / "manifest.json")
    back = RunManifest.read(run)
    assert back.machine == index.to_json()  # round trip
    assert f"{index.tokens_per_s:.0f} tokens/s" in details_section(load_run(run))
