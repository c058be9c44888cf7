"""The forced-choice items as an lm-evaluation-harness task folder (``valuelocate lm-eval-task``).

``write_lm_eval_task(out_dir, tokenizer=tok, tokenizer_name="...")`` writes::

    OUT_DIR/
      valuelocate_values.yaml                  the group: every dimension's task
      valuelocate_values_<dimension>.yaml      one multiple-choice task per dimension
      data/<dimension>.jsonl                   its items (the TEST split by default)
      utils.py                                 the metrics (process_results)
      README.md                                what the task measures, how to run it

and ``lm_eval --include_path OUT_DIR --tasks valuelocate_values ...`` runs it against any
model lm-evaluation-harness supports (``local-completions`` against ``valuelocate serve``,
``hf``, ``vllm``, ...).

Each item is one document with two choices: the situation as raw text followed by
``"\\nAnswer:"`` (the raw reading of
:func:`~valuelocate.comparison.forced_choice.likelihood_reading`), then the affirming answer
(choice 0, the target) or the opposing one, each with a leading space. Per item the harness
returns the two answers' summed log-likelihoods; ``utils.process_results`` divides each by its
answer's token count, so the metrics are those of our likelihood instrument:

- ``dll``: mean over items of (mean per-token log-likelihood of the affirming answer minus
  that of the opposing one), in nats per token; positive leans toward the dimension's values;
- ``acc``: the share of items where the affirming answer is the more likely one per token
  (``dll > 0``).

The token counts are those of the tokenizer named when the folder was written (stored in the
data: ``affirm_tokens``, ``oppose_tokens``), counted as lm-evaluation-harness splits a
context and its continuation (encode both together, then remove the context's tokens). A
model with another tokenizer still runs, but its per-token normalisation is then approximate:
write a folder per tokenizer (``--model``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from valuelocate.data.forced_choice import FORCED_CHOICE_SPLITS, load_forced_choice
from valuelocate.data.schema import DIMENSIONS

GROUP = "valuelocate_values"
CUE = "\nAnswer:"
TASK_VERSION = 1.0


class Tokenizer(Protocol):
    """What the writer needs of a tokenizer: a Hugging Face tokenizer's ``__call__``."""

    def __call__(self, text: str, *, add_special_tokens: bool = ...) -> Any: ...


def task_name(dimension: str) -> str:
    """The task of one dimension: ``valuelocate_values_<dimension>``."""
    return f"{GROUP}_{dimension}"


def context_text(situation: str) -> str:
    """The context every answer follows: the situation, then ``"\\nAnswer:"``."""
    return situation.strip() + CUE


def continuation_tokens(tokenizer: Tokenizer, context: str, continuation: str) -> int:
    """Tokens of ``continuation`` after ``context`` as lm-evaluation-harness counts them: the
    context's trailing spaces move to the continuation; both are encoded together (no special
    tokens) and the context's own tokens are removed."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        continuation = context[-spaces:] + continuation
        context = context[:-spaces]
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    head = tokenizer(context, add_special_tokens=False)["input_ids"]
    return max(1, len(whole) - len(head))


def task_documents(
    tokenizer: Tokenizer, dimension: str, *, split: str = "test"
) -> list[dict[str, Any]]:
    """One dimension's documents: the items of ``split`` (sorted by id) with their context,
    choices and the answers' token counts."""
    items = sorted(load_forced_choice(dimension=dimension, split=split), key=lambda i: i.id)
    docs = []
    for item in items:
        context = context_text(item.situation)
        choices = [" " + item.affirm.strip(), " " + item.oppose.strip()]
        docs.append(
            {
                "id": item.id,
                "dimension": item.dimension,
                "split": item.split,
                "context": context,
                "choices": choices,
                "affirm_tokens": continuation_tokens(tokenizer, context, choices[0]),
                "oppose_tokens": continuation_tokens(tokenizer, context, choices[1]),
            }
        )
    return docs


UTILS = '''"""Metrics of ValueLocate's forced-choice tasks (written by `valuelocate lm-eval-task`).

results holds, per choice, (summed log-likelihood, is_greedy): choice 0 is the affirming
answer, choice 1 the opposing one. Each is divided by its answer's token count (counted with
the tokenizer named in README.md), as ValueLocate's likelihood instrument does.
"""


def process_results(doc, results):
    (affirm, _), (oppose, _) = results
    dll = affirm / doc["affirm_tokens"] - oppose / doc["oppose_tokens"]
    return {"acc": 1.0 if dll > 0 else 0.0, "dll": dll}
'''


def _task_yaml(dimension: str, data: Path) -> str:
    # JSON strings are valid YAML scalars: every value below is quoted that way.
    return f"""# Written by `valuelocate lm-eval-task`: the forced-choice items of {dimension}.
task: {task_name(dimension)}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {json.dumps(str(data))}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}"
doc_to_choice: choices
doc_to_target: 0
target_delimiter: ""
process_results: !function utils.process_results
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: dll
    aggregation: mean
    higher_is_better: true
metadata:
  version: {TASK_VERSION}
"""


def _group_yaml(dimensions: Sequence[str]) -> str:
    tasks = "\n".join(f"  - {task_name(d)}" for d in dimensions)
    return f"""# Written by `valuelocate lm-eval-task`: every dimension's forced-choice task.
group: {GROUP}
task:
{tasks}
aggregate_metric_list:
  - metric: acc
    aggregation: mean
    weight_by_size: true
  - metric: dll
    aggregation: mean
    weight_by_size: true
metadata:
  version: {TASK_VERSION}
"""


def _readme(dimensions: Sequence[str], counts: dict[str, int], split: str, tokenizer: str) -> str:
    rows = "\n".join(f"| `{task_name(d)}` | {d} | {counts[d]} |" for d in dimensions)
    return f"""# ValueLocate forced-choice tasks for lm-evaluation-harness

Written by `valuelocate lm-eval-task` from the `{split}` split of ValueLocate's forced-choice
items (docs/forced_choice.md): per item a concrete situation and two first-person answers,
one a person holding the dimension's values would give (choice 0, "affirm"), one a person
rejecting them would give ("oppose").

| task | dimension | items |
|---|---|---:|
{rows}

The group `{GROUP}` runs them all.

Each document is the raw text `situation + "\\nAnswer:"` followed by one answer (with a leading
space). Metrics, per task and for the group (weighted by size):

- `dll`: mean over items of the affirming answer's mean per-token log-likelihood minus the
  opposing answer's (nats per token); positive leans toward the dimension's values;
- `acc`: the share of items where the affirming answer is more likely per token (`dll > 0`).

Token counts come from the tokenizer `{tokenizer}` (stored in `data/*.jsonl`); for a model
with another tokenizer write another folder (`valuelocate lm-eval-task OUT --model M`).
The data files are named by absolute path in the YAML files: write the folder again after
moving it.

```bash
lm_eval --include_path THIS_FOLDER --tasks {GROUP} --model hf --model_args pretrained=MODEL
# a steered model behind `valuelocate serve` (see docs/serve.md):
lm_eval --include_path THIS_FOLDER --tasks {GROUP} --model local-completions \\
  --model_args model=default+conservation:affirm,base_url=http://127.0.0.1:8000/v1/completions,tokenizer=TOKENIZER_FOLDER,tokenizer_backend=huggingface,tokenized_requests=True
```
"""


def write_lm_eval_task(
    out_dir: str | Path,
    *,
    tokenizer: Tokenizer,
    tokenizer_name: str,
    split: str = "test",
    dimensions: Sequence[str] = DIMENSIONS,
) -> Path:
    """Write the task folder; return it.

    Args:
        out_dir: a new (or empty) folder; written next to it and renamed into place, so a
            failed write leaves nothing.
        tokenizer: counts the answers' tokens (a Hugging Face tokenizer).
        tokenizer_name: named in the README (the model it belongs to).
        split: the forced-choice split (``test``: the held-out items; see
            :data:`~valuelocate.data.forced_choice.FORCED_CHOICE_SPLITS`).
        dimensions: one task per dimension.

    Raises:
        ValueError: ``out_dir`` exists and is not an empty folder; unknown split or
            dimension.
    """
    out_dir = Path(out_dir).absolute()
    if split not in FORCED_CHOICE_SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {FORCED_CHOICE_SPLITS}")
    unknown = [d for d in dimensions if d not in DIMENSIONS]
    if unknown or not dimensions:
        what = f"Unknown dimension {unknown[0]!r}" if unknown else "No dimension"
        raise ValueError(f"{what}; expected some of {', '.join(DIMENSIONS)}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ValueError(f"{out_dir} already exists and is not empty (nothing was written)")
    docs = {d: task_documents(tokenizer, d, split=split) for d in dimensions}
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        (staging / "data").mkdir()
        for dimension, rows in docs.items():
            lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            (staging / "data" / f"{dimension}.jsonl").write_text(lines, encoding="utf-8")
            data = out_dir / "data" / f"{dimension}.jsonl"
            (staging / f"{task_name(dimension)}.yaml").write_text(_task_yaml(dimension, data))
        (staging / f"{GROUP}.yaml").write_text(_group_yaml(dimensions))
        (staging / "utils.py").write_text(UTILS)
        counts = {d: len(rows) for d, rows in docs.items()}
        (staging / "README.md").write_text(_readme(dimensions, counts, split, tokenizer_name))
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


__all__ = [
    "GROUP",
    "context_text",
    "continuation_tokens",
    "task_documents",
    "task_name",
    "write_lm_eval_task",
]


def run_lm_eval(
    base_url: str,
    model: str,
    tasks: Path,
    task: str,
    out: Path,
    tokenizer: Path,
    *,
    concurrent: int = 4,
    timeout: float = 1800,
) -> dict[str, Any]:
    """Run ``lm_eval`` (``local-completions``) on ``task`` of the folder ``tasks`` against an
    OpenAI-style server at ``base_url`` (``.../v1``) asking for ``model``; return the task's
    results (``{"acc,none": ..., "dll,none": ...}``).

    lm-evaluation-harness runs in its own process (``python -m lm_eval``, the command a user
    types; the ``lm_eval`` extra installs it), offline, writing under ``out``. ``tokenizer`` is
    a local tokenizer folder: the harness tokenizes the requests itself.

    Raises:
        RuntimeError: lm_eval failed (the end of its error output in the message).
    """
    args = ",".join(
        [
            f"model={model}",
            f"base_url={base_url}/completions",
            f"tokenizer={tokenizer}",
            "tokenizer_backend=huggingface",
            "tokenized_requests=True",
            f"num_concurrent={concurrent}",
            "max_retries=1",
        ]
    )
    # The server needs no key; the client insists on one being set.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.setdefault("OPENAI_API_KEY", "unused")
    command = [
        *(sys.executable, "-m", "lm_eval", "--model", "local-completions"),
        *("--model_args", args, "--tasks", task, "--include_path", str(tasks)),
        *("--output_path", str(out)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"lm_eval failed (exit {done.returncode}): {done.stderr[-3000:]}")
    (result,) = Path(out).rglob("results_*.json")
    return dict(json.loads(result.read_text())["results"][task])
