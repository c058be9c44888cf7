"""Evaluating steering on a located run: the orchestration.

Usage:

1. ``result = evaluate("runs/smol")`` loads the run's model (``manifest.json``) and neuron
   sets, and for every located dimension D, condition and gamma scores the model.
2. The results land in ``RUN_DIR/evaluation/``: ``results.json`` (the layout is described in
   :mod:`valuelocate.evaluation.results`), ``results.csv`` and ``answers.jsonl``.
3. ``valuelocate evaluate RUN_DIR`` is the command line (``valuelocate.cli.evaluate``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import Tensor

from valuelocate.architectures import ArchSpec, attach_arch, model_shape
from valuelocate.artifacts import ArtifactError, load_neuron_sets, read_json
from valuelocate.data import load_questionnaire
from valuelocate.data.neutral import load_neutral_texts
from valuelocate.evaluation.conditions import (
    EditFactory,
    SettingKey,
    judge_test_prompts,
    prompt_baselines,
    settings,
    steering_edits,
)
from valuelocate.evaluation.cost import text_nll
from valuelocate.evaluation.judges import Judge, JudgeConfig, build_judge
from valuelocate.evaluation.options import EvaluateOptions
from valuelocate.evaluation.questionnaire import option_token_ids, questionnaire_scores
from valuelocate.evaluation.rows import EvaluationResult, Measured, write_results
from valuelocate.generation import generate_stacked
from valuelocate.hooks import Edit
from valuelocate.models import LoadedModel, load_model
from valuelocate.optionspec import with_overrides
from valuelocate.vocab import Progress


def evaluate(
    run_dir: str | Path,
    *,
    options: EvaluateOptions | None = None,
    lm: LoadedModel | None = None,
    judges: Sequence[str | Judge] = ("embedding",),
    judge_config: JudgeConfig | None = None,
    model: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    arch: ArchSpec | None = None,
    edit_factory: EditFactory | None = None,
    progress: Progress | None = None,
    **overrides: Any,
) -> EvaluationResult:
    """Evaluate steering on a located run and write ``RUN_DIR/evaluation/``.

    Args:
        run_dir: a finished ``valuelocate locate`` run.
        options: every option that decides the numbers (:class:`EvaluateOptions`); any of
            its fields can also be given as a keyword (``gammas=(0, 1)``), which overrides it.
        lm: the loaded model; by default ``model`` or the run's model (``manifest.json``).
        judges: judge specs (``embedding``, ``openai:MODEL``, ``hf:MODEL``) or judges.
        judge_config: options of the judges (endpoint, key variable, samples).
        model, device, dtype: override the run's model id, and where and how to load it.
        arch: an architecture spec for a family outside the table (see
            :class:`~valuelocate.architectures.ArchSpec`).
        edit_factory: builds each edit condition's edit (default :func:`steering_edits`).
        progress: called as ``progress(description, done, total)`` as the work advances.

    Returns:
        The :class:`EvaluationResult`; the files are written atomically.

    Example:
        >>> result = evaluate("runs/smol", gammas=(0, 1, 2), judge_prompts=4)
        >>> result.select(measure="questionnaire", condition="affirm", gamma=2.0)
    """
    started = time.monotonic()
    options = with_overrides(options or EvaluateOptions(), overrides)
    options.validate()
    run_dir = Path(run_dir)
    manifest = read_json(run_dir / "manifest.json")
    # Edit the neurons where they were located.
    options = replace(options, site=manifest.get("options", {}).get("site", "act"))
    if lm is None:
        run_options = manifest.get("options", {})
        lm = load_model(
            model or manifest["model"]["id"],
            dtype=dtype or run_options.get("dtype", "float32"),
            device=device,
            revision=manifest["model"].get("revision"),
        )
    attach_arch(lm.model, arch)
    shape = model_shape(lm.model)
    selections = load_neuron_sets(run_dir, expect=shape)
    _check_same_model(manifest, lm, run_dir)
    chosen = list(options.dimensions or selections)
    missing = [d for d in chosen if d not in selections]
    if missing:
        raise ValueError(
            f"{run_dir} has no neurons for {missing[0]!r}; it located: {', '.join(selections)}"
        )
    config = judge_config or JudgeConfig(seed=options.seed, device=device)
    built = [build_judge(j, config) if isinstance(j, str) else j for j in judges]
    names = [j.name for j in built]
    if len(set(names)) != len(names):
        raise ValueError(f"Two judges share a name: {names}")
    warnings: list[str] = []
    make_edit = edit_factory or steering_edits(selections, options, warnings=warnings)

    baselines = prompt_baselines(chosen, seed=options.seed)
    keys = settings(chosen, options.gammas)
    total = len(keys) + len(_generation_groups(keys)) + len(built) * len(chosen)
    done = 0

    def tick(description: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(description, done, total)

    measured = _measure_all(lm, keys, baselines, make_edit, options, tick)
    for judge in built:
        for dimension in chosen:
            _judge_dimension(judge, dimension, measured)
            tick(f"judge {judge.name} {dimension}")
    return write_results(
        run_dir,
        lm=lm,
        shape=shape,
        options=options,
        dimensions=chosen,
        judges=built,
        baselines=baselines,
        measured=measured,
        seconds=time.monotonic() - started,
        warnings=warnings,
    )


def _check_same_model(manifest: Mapping[str, Any], lm: LoadedModel, run_dir: Path) -> None:
    expected = manifest.get("model", {}).get("config_hash")
    if expected and lm.config_hash != expected:
        raise ArtifactError(
            f"The model given is not the one {run_dir} was located with (config hashes "
            "differ); evaluate with the run's model."
        )


def _measure_all(
    lm: LoadedModel,
    keys: Sequence[SettingKey],
    baselines: Mapping[str, Mapping[str, str]],
    make_edit: EditFactory,
    options: EvaluateOptions,
    tick: Callable[[str], None],
) -> dict[SettingKey, Measured]:
    """Questionnaire, perplexity and answers of every setting (no judging yet).

    The unedited questionnaire and perplexity are computed once and shared; the answers of
    several settings of one dimension are generated in one batch
    (:class:`~valuelocate.steering.compose.EditStack`), which amortises the decoding steps on a
    CPU."""
    items = load_questionnaire()
    letters = option_token_ids(lm.tokenizer)
    neutral = load_neutral_texts()
    prompts = {
        d: judge_test_prompts(d, options.judge_prompts, seed=options.seed)
        for d in dict.fromkeys(k[0] for k in keys)
    }

    def questionnaire(prefix: str = "", edit: Edit | None = None) -> tuple[Tensor, Tensor]:
        return questionnaire_scores(
            lm,
            items,
            options=letters,
            prefix=prefix,
            edit=edit,
            batch_size=options.batch_size,
            chat_template=options.chat_template,
        )

    none_scores, none_mass = questionnaire()
    base_nll = text_nll(lm, neutral, batch_size=options.batch_size)
    out: dict[SettingKey, Measured] = {}
    edits: dict[SettingKey, Edit | None] = {}
    prefixes: dict[SettingKey, str] = {}
    for key in keys:
        dimension, condition, gamma = key
        edit: Edit | None = None
        prefix = ""
        nll: Tensor | None = None
        if condition == "none":
            scores, mass, nll = none_scores, none_mass, base_nll
        elif condition.startswith("prompt_"):
            prefix = baselines[dimension][condition.removeprefix("prompt_")]
            scores, mass = questionnaire(prefix)
        else:
            assert gamma is not None
            edit = make_edit(dimension, condition, gamma)
            scores, mass = questionnaire(edit=edit)
            nll = text_nll(lm, neutral, edit=edit, batch_size=options.batch_size)
        edits[key], prefixes[key] = edit, prefix
        out[key] = Measured(scores, mass, nll, list(prompts[dimension]), [])
        tick(f"{dimension} {condition} {'' if gamma is None else gamma}")
    for name, group in _generation_groups(keys).items():
        questions = [prefixes[group[0]] + p.text for p in prompts[group[0][0]]]
        config = options.generation()
        answers = generate_stacked(lm, questions, [edits[k] for k in group], config=config)
        for key, group_answers in zip(group, answers, strict=True):
            out[key].answers = group_answers
        tick(f"answering {name}")
    return out


def _generation_groups(keys: Sequence[SettingKey]) -> dict[str, list[SettingKey]]:
    """Settings that answer the same prompts: per dimension, the unedited and the edited
    ones together, and each prompt baseline on its own (its prompts carry a prefix)."""
    groups: dict[str, list[SettingKey]] = {}
    for key in keys:
        dimension, condition, _ = key
        name = f"{dimension} {condition}" if condition.startswith("prompt_") else dimension
        groups.setdefault(name, []).append(key)
    return groups


def _judge_dimension(judge: Judge, dimension: str, measured: dict[SettingKey, Measured]) -> None:
    """Rate every answer given to ``dimension``'s prompts, in one call (batched judges)."""
    keys = [k for k in measured if k[0] == dimension]
    questions = [p.text for k in keys for p in measured[k].prompts]
    answers = [a for k in keys for a in measured[k].answers]
    ratings = judge.rate(dimension, questions, answers)
    start = 0
    for key in keys:
        count = len(measured[key].answers)
        measured[key].ratings[judge.name] = ratings[start : start + count]
        start += count
