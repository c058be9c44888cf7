"""lm-evaluation-harness scores a local multiple-choice task against `valuelocate serve` with
its `local-completions` model (log-likelihoods through /v1/completions with echo and
logprobs), once unsteered and once steered through a model alias; then the task folder that
`valuelocate lm-eval-task` writes (the forced-choice test items) against the embedded
SmolLM2 steered toward each pole of one dimension by the verdict's kind of edit."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import serve_fixtures as fx
from quick_verdict import quick_run
from valuelocate.data.lm_eval_task import run_lm_eval, task_name, write_lm_eval_task
from valuelocate.models import default_model_dir, load_model
from valuelocate.serve import build_server, running_server

from tiny_models import STORIES

NAME, needs_stories = fx.NAME, fx.needs_stories
lm, run_dir = fx.lm, fx.run_dir  # the shared fixtures

pytestmark = [needs_stories, pytest.mark.slow]

# Forced choices written like the model's stories: a context and two endings, the first the
# sensible one.
ITEMS = [
    ("Lily had a red ball. She liked to", " play with it.", " eat the sky."),
    ("Tom was hungry, so he ate", " an apple.", " a cloud."),
    ("The sun was hot, so they went to the", " pool.", " snow."),
    ("The dog saw a cat and", " barked.", " sang a song about taxes."),
    ("Mom said it was time for", " bed.", " purple."),
    ("The bird flew up into the", " sky.", " spoon."),
]

TASK = """task: vl_serve_choice
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}"
doc_to_choice: "{{{{[good, bad]}}}}"
doc_to_target: 0
target_delimiter: ""
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""


def _lm_eval(base_url: str, model: str, tasks: Path, out: Path) -> float:
    result = run_lm_eval(base_url, model, tasks, "vl_serve_choice", out, STORIES)
    return float(result["acc,none"])


def test_lm_eval_runs_unsteered_and_steered(lm, run_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "items.json"
    data.write_text(json.dumps([{"context": c, "good": g, "bad": b} for c, g, b in ITEMS]))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "vl_serve_choice.yaml").write_text(TASK.format(data=data))
    with running_server(build_server(lm, run_dir, name=NAME)) as server:
        plain = _lm_eval(server.base_url, NAME, tasks, tmp_path / "plain")
        steered = _lm_eval(
            server.base_url, f"{NAME}+conservation:affirm@4", tasks, tmp_path / "steered"
        )
        assert server.engine.held == 0
    print(f"lm-eval acc: unsteered {plain:.3f}, steered (conservation:affirm@4) {steered:.3f}")
    for acc in (plain, steered):
        assert 0.0 <= acc <= 1.0
        assert acc * len(ITEMS) == pytest.approx(round(acc * len(ITEMS)))
    assert plain >= 0.5, "the unsteered model prefers the sensible endings"


# ------------------------------------------------------------------ the forced-choice task

DIMENSION = "conservation"  # fixed before any measurement (the serve tests' dimension)


def test_forced_choice_task_moves_the_predicted_way_on_smollm2(tmp_path: Path) -> None:
    """`valuelocate lm-eval-task`'s folder through `serve` on the embedded SmolLM2: the
    conservation task (100 test items) unsteered, then steered toward each pole by the
    verdict's kind of edit (the whole band's mean difference on the search items, each pole at
    the gamma where neutral-text perplexity reaches 1.10: tests/quick_verdict.py). The
    affirming edit must raise the mean per-token log-likelihood difference (dll) and the
    opposing one lower it."""
    began = time.monotonic()
    lm = load_model("default")
    run = tmp_path / "run"
    record = quick_run(lm, run, DIMENSION)
    setup = time.monotonic() - began
    gammas = {r["pole"]: round(r["gamma"], 3) for r in record["rows"]}
    tasks = write_lm_eval_task(
        tmp_path / "tasks",
        tokenizer=lm.tokenizer,
        tokenizer_name="default",
        dimensions=(DIMENSION,),
    )
    task = task_name(DIMENSION)
    scores: dict[str, dict[str, float]] = {}
    with running_server(build_server(lm, run, name="default")) as server:
        for label, model in (
            ("unsteered", "default"),
            ("affirm", f"default+{DIMENSION}:affirm"),
            ("oppose", f"default+{DIMENSION}:oppose"),
        ):
            result = run_lm_eval(
                server.base_url, model, tasks, task, tmp_path / label, default_model_dir()
            )
            scores[label] = {"acc": result["acc,none"], "dll": result["dll,none"]}
        assert server.engine.held == 0
    seconds = time.monotonic() - began
    shown = ", ".join(f"{k} acc {v['acc']:.3f} dll {v['dll']:+.4f}" for k, v in scores.items())
    print(f"{task} on SmolLM2 (gammas {gammas}, {seconds:.0f} s, setup {setup:.0f} s): {shown}")
    assert scores["affirm"]["dll"] > scores["unsteered"]["dll"] > scores["oppose"]["dll"], shown
