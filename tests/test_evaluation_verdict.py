"""The main job's verdict on the real 260k-parameter Llama: its rows are what the readings
give when recomputed by hand, ``run_edit`` returns exactly the edit (and control) it used, and
the report opens with it."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import test_serve_fixtures as fx
from valuelocate import run_edit
from valuelocate.artifacts import ArtifactError
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.evaluation.compare_options import default_band
from valuelocate.evaluation.forced_choice import likelihood_reading
from valuelocate.evaluation.verdict import (
    VerdictOptions,
    default_config,
    load_verdict,
    run_verdict,
)
from valuelocate.reporting import write_report
from valuelocate.steering.mean_diff import MeanDiffEdit

lm, located_run = fx.lm, fx.run_dir  # the shared stories260k model and its located run

pytestmark = fx.needs_stories

OPTIONS = VerdictOptions(verdict_items=4, neutral_texts=2, steps=1, start_gamma=1.0)


@pytest.fixture(scope="module")
def judged(lm, located_run, tmp_path_factory):  # type: ignore[no-untyped-def]
    run_dir = tmp_path_factory.mktemp("verdict") / "run"
    shutil.copytree(located_run, run_dir)
    verdict = run_verdict(run_dir, lm=lm, options=OPTIONS)
    return run_dir, verdict


def test_the_default_band_is_the_middle_of_the_model() -> None:
    assert default_band(30) == (8, 22)  # the embedded model: layers 8-22
    assert default_band(5) == (1, 4)
    assert default_band(1) == (0, 0)
    assert default_config(30).band == tuple(range(8, 23))


def test_every_method_and_direction_is_judged(judged) -> None:  # type: ignore[no-untyped-def]
    run_dir, verdict = judged
    data = load_verdict(run_dir)
    keys = {(r["method"], r["dimension"], r["pole"]) for r in data["rows"]}
    assert keys == {
        (m, d, p)
        for m in ("default", "study", "prompt")
        for d in ("conservation", "self_enhancement")
        for p in ("affirm", "oppose")
    }
    assert data["budget"] == "ppl=1.1"
    assert (run_dir / "verdict" / "verdict.csv").is_file()
    for row in verdict.rows:
        r = row.row
        if row.method == "prompt":
            assert not row.beats_control and math.isnan(r.p_control)
            continue
        # The rule, recomputed: toward the pole, past the control, p < 0.01, within budget.
        sign = 1 if r.pole == "affirm" else -1
        expected = (sign * r.shift > 0 and sign * r.shift > sign * r.control_shift
                    and r.p_control < 0.01 and r.cost <= 1.10)  # fmt: skip
        assert row.beats_control == expected
        assert r.gamma >= 0 and r.n == 4  # 0: even the first gamma tried was over budget


def test_run_edit_reproduces_the_verdicts_shift_and_its_controls(judged, lm) -> None:  # type: ignore[no-untyped-def]
    run_dir, verdict = judged
    items = sorted(load_forced_choice(dimension="conservation", split="test"), key=lambda i: i.id)
    items = items[:4]
    base = likelihood_reading(lm, items).numpy()
    row = next(
        r.row
        for r in verdict.rows
        if (r.method, r.row.dimension, r.row.pole) == ("default", "conservation", "oppose")
    )
    edit = run_edit(run_dir, "conservation", "oppose")
    assert isinstance(edit, MeanDiffEdit) and edit.gamma == row.gamma
    assert sorted(edit.indices) == [1, 2, 3, 4]  # every neuron of the band
    shift = likelihood_reading(lm, items, edit=edit).numpy() - base
    assert np.mean(shift) == pytest.approx(row.shift, abs=1e-9)
    control = run_edit(run_dir, "conservation", "oppose", control=True)
    control_shift = likelihood_reading(lm, items, edit=control).numpy() - base
    assert np.mean(control_shift) == pytest.approx(row.control_shift, abs=1e-9)
    # The control is the edit's vector permuted within each layer: same norm, other order.
    for layer in edit.indices:
        assert sorted(control.deltas[layer].tolist()) == sorted(edit.deltas[layer].tolist())
        assert not control.deltas[layer].equal(edit.deltas[layer])
    assert run_edit(run_dir, "conservation", "oppose", gamma=0.5).gamma == 0.5


def test_run_edit_errors_name_what_is_missing(judged, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_dir, _ = judged
    with pytest.raises(ValueError, match="openness_to_change.affirm"):
        run_edit(run_dir, "openness_to_change", "affirm")
    with pytest.raises(ValueError, match="pole"):
        run_edit(run_dir, "conservation", "up")
    with pytest.raises(ArtifactError, match="verdict.json"):
        run_edit(tmp_path, "conservation", "affirm")


def test_the_report_opens_with_the_verdict(judged) -> None:  # type: ignore[no-untyped-def]
    run_dir, verdict = judged
    html = write_report(run_dir).read_text()
    assert html.index('id="verdict"') < html.index('id="sparsity"')
    wins, total = verdict.wins("default")
    assert f"<b>{wins}/{total}</b> directions beat" in html
    assert "Conservation → oppose" in html


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [("budget", "ppl=0.5", "--budget"), ("verdict_items", 1, "--verdict-items")],
)
def test_bad_options_name_their_flag(field: str, value: object, flag: str) -> None:
    with pytest.raises(ValueError, match=flag):
        VerdictOptions(**{field: value}).validate()  # type: ignore[arg-type]
