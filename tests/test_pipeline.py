"""`valuelocate.pipeline` (`valuelocate run`, the main job): options checked before any
work, and a whole run on the real 260k-parameter Llama whose figures are checked."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from valuelocate.artifacts import load_neuron_sets
from valuelocate.data import load_questionnaire
from valuelocate.data.neutral import load_neutral_texts
from valuelocate.pipeline import RunOptions, run
from valuelocate.vocab import CONDITIONS, DIMENSIONS, EDIT_CONDITIONS

from tiny_models import STORIES


@pytest.mark.parametrize(
    ("options", "flag"),
    [
        (RunOptions(judge_prompts=0), "--judge-prompts"),
        (RunOptions(gammas=()), "--gammas"),
        (RunOptions(method="no-such-method"), "no-such-method"),
        (RunOptions(judge=("nosuch:model",)), "nosuch"),
        (RunOptions(budget="ppl=0.9"), "--budget"),
        (RunOptions(verdict_items=1), "--verdict-items"),
    ],
)
def test_every_option_is_checked_before_any_work(
    tmp_path: Path, options: RunOptions, flag: str
) -> None:
    stages: list[str] = []
    with pytest.raises(ValueError, match=flag):
        # A model that does not exist: validation must come before loading it.
        run(options.__class__(**{**options.__dict__, "model": str(tmp_path / "no-model")}),
            tmp_path / "run", on_stage=stages.append)  # fmt: skip
    assert stages == [] and not (tmp_path / "run").exists()


def test_stage_options_come_from_the_run_options() -> None:
    options = RunOptions(prompts_per_pole=3, max_new_tokens=5, gammas=(0.0, 2.0),
                         judge_prompts=4, answer_tokens=6, seed=7, dtype="bfloat16")  # fmt: skip
    locate = options.locate_options()
    assert (locate.prompts_per_pole, locate.max_new_tokens, locate.seed) == (3, 5, 7)
    assert locate.dtype == "bfloat16" and RunOptions().locate_options().dtype == "float32"
    assert locate.dimensions == DIMENSIONS
    evaluate = options.evaluate_options()
    assert (evaluate.gammas, evaluate.judge_prompts, evaluate.max_new_tokens, evaluate.seed) == (
        (0.0, 2.0), 4, 6, 7)  # fmt: skip


@pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")
def test_run_loads_the_model_in_the_asked_precision(tmp_path: Path) -> None:
    stats = {}
    for dtype in ("float32", "bfloat16"):
        options = RunOptions(model=str(STORIES), dtype=dtype, prompts_per_pole=2,
                             max_new_tokens=3, evaluate="off", verdict=False)  # fmt: skip
        run(options, tmp_path / dtype)
        manifest = json.loads((tmp_path / dtype / "manifest.json").read_text())
        assert manifest["options"]["dtype"] == dtype
        stats[dtype] = load_file(tmp_path / dtype / "stats" / "conservation.affirm.safetensors")
    # the same prompts read in another precision: the activations' statistics differ
    assert stats["float32"].keys() == stats["bfloat16"].keys()
    assert any(
        not torch.equal(stats["float32"][key], stats["bfloat16"][key]) for key in stats["float32"]
    )


@pytest.mark.slow
@pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")
def test_run_completes_on_a_tiny_model_and_writes_the_report(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "valuelocate", "run", "--model", str(STORIES), "--out", str(out),
        "--prompts-per-pole", "2", "--max-new-tokens", "3", "--gammas", "0,1",
        "--judge-prompts", "1", "--answer-tokens", "4", "--evaluate", "full",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = out / "report.html"
    assert result.stdout.strip().splitlines()[-1] == str(report)
    html = report.read_text()
    for section in ("sparsity", "layers", "overlap", "dose-response", "leakage", "examples"):
        assert f'id="{section}"' in html
    assert html.index('id="verdict"') < html.index('id="sparsity"')  # the verdict opens it
    verdict = json.loads((out / "verdict" / "verdict.json").read_text())
    assert verdict["version"] == 2 and len(verdict["dimensions"]) == 4
    assert len(verdict["rows"]) == 4 * 2  # the served edits' gammas: dimensions x poles
    summary = result.stdout[result.stdout.index("Verdict") :]  # the verdict's own lines
    assert "Full report: " in summary and "nan" not in summary.lower()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["machine"]["tokens_per_s"] > 0  # the machine index, measured first
    assert f"{manifest['machine']['tokens_per_s']:.0f} tokens/s" in html
    assert "machine index" in result.stdout
    assert len(manifest["options"]["dimensions"]) == 4

    # The locating figures: the summary counts are the neuron sets' sizes.
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["num_layers"], summary["neurons_per_layer"]) == (5, 172)
    assert summary["total_neurons"] == 5 * 172
    sets = load_neuron_sets(out)
    for dimension in DIMENSIONS:
        for pole in ("affirm", "oppose"):
            info = summary["dimensions"][dimension][pole]
            assert info["count"] == sum(info["per_layer"])
            assert info["percent"] == pytest.approx(100 * info["count"] / (5 * 172))
            neuron_set = getattr(sets[dimension], pole)
            assert neuron_set.counts_per_layer().tolist() == info["per_layer"]
            assert f"{info['percent']:.2f}%" in html

    # The evaluation's figures.
    results = json.loads((out / "evaluation" / "results.json").read_text())
    assert results["gammas"] == [0.0, 1.0] and results["dimensions"] == list(DIMENSIONS)
    items = load_questionnaire()
    per_setting = len(CONDITIONS) - len(EDIT_CONDITIONS) + 2 * len(EDIT_CONDITIONS)
    scores = results["scores"]
    none_q = {}
    for row in scores:
        if row["measure"] == "questionnaire":
            mine = sum(row["scored_dimension"] in i.dimensions for i in items)
            assert row["n"] == mine and -5 < row["mean"] < 5
            if row["condition"] == "none":
                # The unedited scores are measured once and repeated per steered dimension.
                none_q.setdefault(row["scored_dimension"], row["mean"])
                assert row["mean"] == none_q[row["scored_dimension"]]
        elif row["measure"] == "judge:embedding":
            assert row["n"] + row["n_excluded"] == 1 and 1 <= row["mean"] <= 5
        elif row["measure"] == "perplexity_ratio":
            assert row["n"] == len(load_neutral_texts()) and row["mean"] > 0
            assert row["condition"] in EDIT_CONDITIONS
        elif row["measure"] == "degenerate_share":
            assert row["n"] == 1 and row["mean"] in (0.0, 1.0)
        else:
            raise AssertionError(row["measure"])
    assert len({(r["steered_dimension"], r["condition"], r["gamma"]) for r in scores}) == (
        4 * per_setting
    )
    answers = (out / "evaluation" / "answers.jsonl").read_text().splitlines()
    assert len(answers) == 4 * per_setting
    for leak in results["leakage"]:
        edit = next(r for r in scores if r["measure"] == "questionnaire"
                    and r["steered_dimension"] == leak["steered_dimension"]
                    and r["condition"] == leak["condition"] and r["gamma"] == leak["gamma"]
                    and r["scored_dimension"] == leak["scored_dimension"])  # fmt: skip
        assert leak["shift"] == pytest.approx(edit["mean"] - none_q[leak["scored_dimension"]])
    assert all(not math.isnan(r["mean"]) for r in scores if r["mean"] is not None)
