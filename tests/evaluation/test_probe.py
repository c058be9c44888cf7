"""The evaluation's positive-control probe (`valuelocate.evaluation.probe`): the persona
prompt's questionnaire gap per dimension, recomputed by hand, and what the main job makes of it."""

from __future__ import annotations

import pytest

from valuelocate.data import load_questionnaire
from valuelocate.evaluation.conditions import prompt_baselines
from valuelocate.evaluation.probe import Probe, ProbeRow, prompt_probe, read_probe, write_probe
from valuelocate.evaluation.questionnaire import (
    centred_scores,
    option_token_ids,
    questionnaire_scores,
)
from valuelocate.evaluation.statistics import one_sided_sign_flip


def test_the_probe_is_the_prompt_gap_of_the_questionnaire(stories_lm) -> None:  # type: ignore[no-untyped-def]
    probe = prompt_probe(stories_lm, ["conservation"], seed=3)
    (row,) = probe.rows
    items = load_questionnaire()
    letters = option_token_ids(stories_lm.tokenizer)
    prefixes = prompt_baselines(["conservation"], seed=3)["conservation"]
    by_pole = {
        pole: centred_scores(
            questionnaire_scores(stories_lm, items, options=letters, prefix=prefix)[0],
            items,
            "conservation",
        )
        for pole, prefix in prefixes.items()
    }
    gap = (by_pole["affirm"] - by_pole["oppose"]).double().numpy()
    assert row.gap == pytest.approx(float(gap.mean()), abs=1e-9)
    assert row.p == one_sided_sign_flip(gap, seed=3)[0]
    assert row.items == gap.size == sum("conservation" in i.dimensions for i in items)


def test_what_the_probe_says(tmp_path) -> None:  # type: ignore[no-untyped-def]
    reads = ProbeRow("openness_to_change", 0.4, 0.01, 10)
    wrong_way = ProbeRow("conservation", -0.4, 0.01, 10)
    weak = ProbeRow("self_enhancement", 0.4, 0.2, 10)
    assert reads.registers and not wrong_way.registers and not weak.registers
    silent = Probe((wrong_way, weak))
    assert not silent.registers
    assert "0/2" in silent.line() and "skipped" in silent.line()
    assert Probe((reads, weak), sweep=True).line().endswith("judged answers ran.")
    write_probe(tmp_path, silent)
    data = read_probe(tmp_path)
    assert data is not None and data["registers"] is False
    assert data["dimensions"]["conservation"] == {
        "gap": -0.4, "p": 0.01, "items": 10, "registers": False
    }  # fmt: skip
    assert read_probe(tmp_path / "elsewhere") is None


def test_the_report_says_why_the_sweep_did_not_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from valuelocate.reporting.html import missing_evaluation_section
    from valuelocate.reporting.load import RunData

    silent = Probe((ProbeRow("conservation", -0.4, 0.01, 10),))
    html = missing_evaluation_section(RunData(tmp_path, {}, probe=silent.to_json()))
    assert "registers a persona prompt on 0/1 dimensions" in html
    assert "Evaluation has not been run" in html
    assert "registers" not in missing_evaluation_section(RunData(tmp_path, {}))
