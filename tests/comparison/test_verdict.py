"""The main job's verdict on the real 260k-parameter Llama: its rows are what the readings
give when recomputed by hand, ``run_edit`` returns exactly the edit (and control) it used, and
the report opens with it."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import serve_fixtures as fx
from valuelocate import run_edit
from valuelocate.artifacts import ArtifactError
from valuelocate.artifacts.verdict import load_verdict
from valuelocate.comparison.forced_choice import likelihood_reading
from valuelocate.comparison.options import default_band
from valuelocate.comparison.verdict import VerdictOptions, default_config, run_verdict
from valuelocate.data.forced_choice import load_forced_choice
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


def test_serve_steers_with_the_verdicts_edit_by_default(judged, lm) -> None:  # type: ignore[no-untyped-def]
    """A run with a verdict serves its default steering (rule ``mean-diff``, size 1 = the
    calibrated gamma, every position), and its control as ``mean-diff-control``."""
    import openai

    from valuelocate import generation
    from valuelocate.serve import build_server, running_server

    run_dir, _ = judged
    config = generation.GenerationConfig(
        max_new_tokens=12, repetition_penalty=1.0, batch_size=1, scope="all"
    )
    prompt = "Once upon a time"
    parts = build_server(lm, run_dir, name="stories")
    assert parts.engine.catalog.default_rule == "mean-diff"
    with running_server(parts) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)

        def chat(values: dict, **extra: object) -> str:
            reply = client.chat.completions.create(
                model="stories", messages=[{"role": "user", "content": prompt}], max_tokens=12,
                temperature=0, extra_body={"values": values, **extra},
            )  # fmt: skip
            return (reply.choices[0].message.content or "").strip()

        for values, pole, control, size in (
            ({"conservation": -2.0}, "oppose", False, 2.0),
            ({"conservation": 3.0}, "affirm", False, 3.0),
            ({"conservation": 3.0}, "affirm", True, 3.0),
        ):
            gamma = run_edit(run_dir, "conservation", pole).gamma * size
            edit = run_edit(run_dir, "conservation", pole, gamma=gamma, control=control)
            (expected,) = generation.generate_answers(lm, [prompt], config=config, edit=edit)
            rule = {"rule": "mean-diff-control"} if control else {}
            assert chat(values, **rule) == expected
        with pytest.raises(openai.BadRequestError, match="mean-diff-control"):
            chat({"conservation": 1.0}, rule="mean-difference")  # the error lists the rules


def test_serve_without_a_verdict_refuses_its_rules_by_name(lm, located_run) -> None:  # type: ignore[no-untyped-def]
    from valuelocate.serve.server import build_catalog
    from valuelocate.serve.steering import SteeringError

    catalog = build_catalog(lm, located_run, name="stories", max_gamma=4.0, alias_gamma=1.0)
    assert catalog.default_rule == "dynamic" and catalog.rules() == ["dynamic", "random_control"]
    with pytest.raises(SteeringError, match="no verdict") as error:
        catalog.steering("stories", {"conservation": 1.0}, "mean-diff", None, None)
    assert error.value.param == "rule"


def test_export_carries_the_verdict_to_the_card_run_edit_and_serve(judged, lm, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from huggingface_hub import ModelCard

    from valuelocate.artifacts.export import export_run
    from valuelocate.serve.server import build_catalog

    run_dir, verdict = judged
    folder = export_run(run_dir, tmp_path / "export")
    assert (folder / "verdict" / "edits.safetensors").is_file()
    card = ModelCard.load(folder / "README.md")
    assert "### Forced choice" in card.text
    table = [line for line in card.text.splitlines() if line.startswith("| default |")]
    assert len(table) == sum(r.method == "default" for r in verdict.rows)
    for pole in ("affirm", "oppose"):
        for control in (False, True):
            here = run_edit(folder, "conservation", pole, control=control)
            there = run_edit(run_dir, "conservation", pole, control=control)
            assert here.gamma == there.gamma
            assert all(here.deltas[k].equal(there.deltas[k]) for k in there.deltas)
    catalog = build_catalog(lm, folder, name="stories", max_gamma=4.0, alias_gamma=1.0)
    assert catalog.default_rule == "mean-diff"
