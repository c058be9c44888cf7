"""`valuelocate lm-eval-task`: the folder's files, the documents (the test split, two choices,
token counts as lm-evaluation-harness splits context and continuation), the metrics of
utils.process_results, lm-evaluation-harness's own loader reading the folder, and refusals."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.data.lm_eval_task import (
    GROUP,
    continuation_tokens,
    task_name,
    write_lm_eval_task,
)
from valuelocate.data.schema import DIMENSIONS

from tiny_models import STORIES

pytestmark = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return AutoTokenizer.from_pretrained(str(STORIES))


@pytest.fixture(scope="module")
def folder(tokenizer, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    return write_lm_eval_task(
        tmp_path_factory.mktemp("tasks") / "vl", tokenizer=tokenizer, tokenizer_name="stories"
    )


def test_folder_holds_a_task_per_dimension_a_group_and_the_test_items(folder: Path) -> None:
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        ["README.md", "data", "utils.py", f"{GROUP}.yaml"]
        + [f"{task_name(d)}.yaml" for d in DIMENSIONS]
    )
    group = (folder / f"{GROUP}.yaml").read_text()
    assert all(f"  - {task_name(d)}" in group for d in DIMENSIONS)
    for dimension in DIMENSIONS:
        rows = [json.loads(x) for x in (folder / "data" / f"{dimension}.jsonl").open()]
        items = sorted(load_forced_choice(dimension=dimension, split="test"), key=lambda i: i.id)
        assert [r["id"] for r in rows] == [i.id for i in items] and len(rows) == 100
        assert all(r["split"] == "test" for r in rows)
        first, item = rows[0], items[0]
        assert first["context"] == item.situation.strip() + "\nAnswer:"
        assert first["choices"] == [" " + item.affirm.strip(), " " + item.oppose.strip()]
        task = (folder / f"{task_name(dimension)}.yaml").read_text()
        assert str(folder / "data" / f"{dimension}.jsonl") in task
        assert "doc_to_target: 0" in task and "utils.process_results" in task


def test_token_counts_split_context_and_continuation_as_the_harness_does(
    tokenizer,  # type: ignore[no-untyped-def]
    folder: Path,
) -> None:
    row = json.loads((folder / "data" / "conservation.jsonl").open().readline())
    whole = tokenizer(row["context"] + row["choices"][0], add_special_tokens=False)["input_ids"]
    head = tokenizer(row["context"], add_special_tokens=False)["input_ids"]
    assert whole[: len(head)] == head
    assert row["affirm_tokens"] == len(whole) - len(head) > 0
    # A trailing space of the context moves to the continuation.
    assert continuation_tokens(tokenizer, "Hello ", "world") == continuation_tokens(
        tokenizer, "Hello", " world"
    )


def test_metrics_are_per_token_means(folder: Path) -> None:
    spec = importlib.util.spec_from_file_location("vl_utils", folder / "utils.py")
    assert spec is not None and spec.loader is not None
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    doc = {"affirm_tokens": 4, "oppose_tokens": 2}
    # Summed -8 over 4 tokens (-2 each) beats -5 over 2 (-2.5 each), though its sum is lower.
    out = utils.process_results(doc, [(-8.0, False), (-5.0, False)])
    assert out == {"acc": 1.0, "dll": pytest.approx(0.5)}
    assert utils.process_results(doc, [(-12.0, False), (-5.0, False)])["acc"] == 0.0


def test_lm_evaluation_harness_loads_the_folder(folder: Path) -> None:
    tasks = pytest.importorskip("lm_eval.tasks")
    manager = tasks.TaskManager(include_path=str(folder), include_defaults=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loaded = tasks.get_task_dict([GROUP], manager)
    (members,) = loaded.values()
    assert sorted(members) == sorted(task_name(d) for d in DIMENSIONS)
    task = members[task_name("conservation")]
    docs = list(task.test_docs())
    assert len(docs) == 100
    assert task.doc_to_choice(docs[0]) == docs[0]["choices"]
    assert task.doc_to_target(docs[0]) == 0


def test_refusals(tokenizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("mine")
    with pytest.raises(ValueError, match="already exists"):
        write_lm_eval_task(taken, tokenizer=tokenizer, tokenizer_name="s")
    with pytest.raises(ValueError, match="Unknown split"):
        write_lm_eval_task(tmp_path / "a", tokenizer=tokenizer, tokenizer_name="s", split="x")
    with pytest.raises(ValueError, match="Unknown dimension 'power'"):
        write_lm_eval_task(
            tmp_path / "b", tokenizer=tokenizer, tokenizer_name="s", dimensions=("power",)
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    one = write_lm_eval_task(
        tmp_path / "one", tokenizer=tokenizer, tokenizer_name="s", dimensions=("conservation",)
    )
    assert sorted(p.name for p in (one / "data").iterdir()) == ["conservation.jsonl"]
