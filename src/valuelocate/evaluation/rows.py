"""From measurements to results: score, leakage and example rows with their statistics,
and the files ``results.json``, ``results.csv`` and ``answers.jsonl``."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from valuelocate.architectures import ModelShape
from valuelocate.artifacts import atomic_write, write_json
from valuelocate.data import QuestionnaireItem, SituationalPrompt, load_questionnaire
from valuelocate.evaluation.conditions import SettingKey
from valuelocate.evaluation.cost import is_degenerate
from valuelocate.evaluation.judges import Judge, JudgeRating
from valuelocate.evaluation.options import EvaluateOptions
from valuelocate.evaluation.questionnaire import centred_scores
from valuelocate.evaluation.results import (
    RESULTS_FORMAT,
    RESULTS_VERSION,
    Example,
    LeakageRow,
    ScoreRow,
)
from valuelocate.evaluation.statistics import bootstrap_ci, paired_permutation_pvalue
from valuelocate.models import LoadedModel
from valuelocate.vocab import CONDITIONS, DIMENSIONS, EDIT_CONDITIONS


@dataclass
class Measured:
    """The raw measurements of one setting (per unit, before statistics).

    Attributes:
        item_scores: expected answer 1..6 per questionnaire item, ``[items]``.
        option_mass: the six options' probability mass per item, ``[items]``.
        text_nll: mean NLL per token of each neutral text, ``[texts]`` (edits only).
        prompts: the answered test prompts.
        answers: the answers, one per prompt.
        ratings: judge name -> one :class:`JudgeRating` per answer.
    """

    item_scores: Tensor
    option_mass: Tensor
    text_nll: Tensor | None
    prompts: list[SituationalPrompt]
    answers: list[str]
    ratings: dict[str, list[JudgeRating]] = field(default_factory=dict)


@dataclass
class EvaluationResult:
    """What :func:`evaluate` computed and wrote.

    Attributes:
        run_dir: the run evaluated.
        path: ``RUN_DIR/evaluation/results.json``.
        data: the JSON written (see the module docstring).
        scores, leakage, examples: the rows, as dataclasses.
    """

    run_dir: Path
    path: Path
    data: dict[str, Any]
    scores: list[ScoreRow]
    leakage: list[LeakageRow]
    examples: list[Example]

    def select(self, **where: Any) -> list[ScoreRow]:
        """Score rows whose fields equal ``where`` (e.g. ``measure="questionnaire"``)."""
        return [r for r in self.scores if all(getattr(r, k) == v for k, v in where.items())]


def _unit_values(
    measure: str,
    m: Measured,
    scored: str | None,
    items: Sequence[QuestionnaireItem],
    options: EvaluateOptions,
    base: Measured,
) -> Tensor:
    """The per-unit values behind one figure, ``[units]`` float64 (NaN = no value)."""
    if measure == "questionnaire":
        assert scored is not None
        return centred_scores(m.item_scores, items, scored)
    if measure == "perplexity_ratio":
        assert m.text_nll is not None and base.text_nll is not None
        return torch.exp(m.text_nll - base.text_nll)
    if measure == "degenerate_share":
        flags = [is_degenerate(a, **_degenerate_options(options)) for a in m.answers]
        return torch.tensor(flags, dtype=torch.float64)
    name = measure.removeprefix("judge:")
    scores = [math.nan if r.score is None else r.score for r in m.ratings[name]]
    return torch.tensor(scores, dtype=torch.float64)


def _degenerate_options(options: EvaluateOptions) -> dict[str, Any]:
    return {
        "min_distinct2": options.min_distinct2,
        "max_word_run": options.max_word_run,
        "max_char_run": options.max_char_run,
    }


def score_rows(
    measured: Mapping[SettingKey, Measured],
    *,
    items: Sequence[QuestionnaireItem],
    judge_names: Sequence[str],
    options: EvaluateOptions,
) -> list[ScoreRow]:
    """Every :class:`ScoreRow` of the results, with CIs and the tests against the random
    control (see the module docstring)."""
    scored_dimensions = [d for d in DIMENSIONS if any(d in i.dimensions for i in items)]
    rows: list[ScoreRow] = []
    for key, m in measured.items():
        dimension, condition, gamma = key
        base = measured[(dimension, "none", None)]
        targets: list[tuple[str, str | None]] = [("questionnaire", s) for s in scored_dimensions]
        targets += [(f"judge:{name}", dimension) for name in judge_names]
        if condition in EDIT_CONDITIONS:
            targets.append(("perplexity_ratio", None))
        targets.append(("degenerate_share", None))
        control = measured.get((dimension, f"random_{condition}", gamma))
        for measure, scored in targets:
            values = _unit_values(measure, m, scored, items, options, base)
            reference = None
            if control is not None and condition in ("affirm", "oppose"):
                reference = _unit_values(measure, control, scored, items, options, base)
            rows.append(
                _row(measure, dimension, condition, gamma, scored, values, reference, options)
            )
    return rows


def _row(
    measure: str,
    dimension: str,
    condition: str,
    gamma: float | None,
    scored: str | None,
    values: Tensor,
    reference: Tensor | None,
    options: EvaluateOptions,
) -> ScoreRow:
    finite = values[torch.isfinite(values)]
    low, high = bootstrap_ci(finite, resamples=options.bootstrap, seed=options.seed)
    p_value = diff = None
    if reference is not None:
        p_value = paired_permutation_pvalue(
            values, reference, permutations=options.permutations, seed=options.seed
        )
        both = torch.isfinite(values) & torch.isfinite(reference)
        diff = float((values[both] - reference[both]).mean()) if bool(both.any()) else None
    return ScoreRow(
        measure=measure,
        steered_dimension=dimension,
        condition=condition,
        gamma=gamma,
        scored_dimension=scored,
        mean=float(finite.mean()) if finite.numel() else math.nan,
        ci_low=low,
        ci_high=high,
        n=int(finite.numel()),
        n_excluded=int(values.numel() - finite.numel()),
        p_vs_random=p_value,
        diff_vs_random=diff,
    )


def leakage_rows(
    measured: Mapping[SettingKey, Measured],
    *,
    items: Sequence[QuestionnaireItem],
    options: EvaluateOptions,
) -> list[LeakageRow]:
    """The shift of every dimension's questionnaire score from ``none`` when steering each
    dimension toward each pole, at each gamma (paired over the scored dimension's items)."""
    scored_dimensions = [d for d in DIMENSIONS if any(d in i.dimensions for i in items)]
    rows: list[LeakageRow] = []
    for (dimension, condition, gamma), m in measured.items():
        if condition not in ("affirm", "oppose") or gamma is None:
            continue
        base = measured[(dimension, "none", None)]
        for scored in scored_dimensions:
            shift = centred_scores(m.item_scores, items, scored) - centred_scores(
                base.item_scores, items, scored
            )
            low, high = bootstrap_ci(shift, resamples=options.bootstrap, seed=options.seed)
            rows.append(
                LeakageRow(
                    dimension,
                    condition,
                    gamma,
                    scored,
                    float(shift.mean()),
                    low,
                    high,
                    int(shift.numel()),
                )
            )
    return rows


def example_rows(
    measured: Mapping[SettingKey, Measured], options: EvaluateOptions
) -> list[Example]:
    """The first ``options.examples`` answers of every setting."""
    out = []
    for (dimension, condition, gamma), m in measured.items():
        for prompt, answer in list(zip(m.prompts, m.answers, strict=True))[: options.examples]:
            degenerate = is_degenerate(answer, **_degenerate_options(options))
            out.append(
                Example(dimension, condition, gamma, prompt.id, prompt.text, answer, degenerate)
            )
    return out


def _judge_totals(judges: Sequence[Judge], measured: Mapping[SettingKey, Measured]) -> dict:
    totals: dict[str, dict[str, Any]] = {}
    for judge in judges:
        ratings = [r for m in measured.values() for r in m.ratings.get(judge.name, [])]
        totals[judge.name] = {
            "kind": type(judge).__name__,
            "samples": int(getattr(judge, "samples", 1)),
            "ratings": sum(r.valid for r in ratings),
            "malformed": sum(r.malformed for r in ratings),
            "gibberish": sum(r.gibberish for r in ratings),
            **({"failures": judge.failure_counts()} if hasattr(judge, "failure_counts") else {}),
        }
    return totals


def write_results(
    run_dir: Path,
    *,
    lm: LoadedModel,
    shape: ModelShape,
    options: EvaluateOptions,
    dimensions: Sequence[str],
    judges: Sequence[Judge],
    baselines: Mapping[str, Mapping[str, str]],
    measured: Mapping[SettingKey, Measured],
    seconds: float,
    warnings: Sequence[str] = (),
) -> EvaluationResult:
    """Compute the rows and write ``results.json``, ``results.csv`` and ``answers.jsonl``
    (each atomically) under ``RUN_DIR/evaluation``."""
    items = load_questionnaire()
    names = [j.name for j in judges]
    scores = score_rows(measured, items=items, judge_names=names, options=options)
    leakage = leakage_rows(measured, items=items, options=options)
    examples = example_rows(measured, options)
    measures = ["questionnaire", *(f"judge:{n}" for n in names), "perplexity_ratio"]
    measures.append("degenerate_share")
    data: dict[str, Any] = {
        "format": RESULTS_FORMAT,
        "version": RESULTS_VERSION,
        "model": {
            "id": lm.model_id,
            "source": lm.source,
            "config_hash": lm.config_hash,
            "family": shape.family,
            "num_layers": shape.num_layers,
            "neurons_per_layer": shape.neurons_per_layer,
        },
        "options": options.to_json(),
        "dimensions": list(dimensions),
        "scored_dimensions": sorted(
            {r.scored_dimension for r in scores if r.measure == "questionnaire"},
            key=lambda d: DIMENSIONS.index(d or ""),
        ),
        "gammas": list(options.gammas),
        "conditions": list(CONDITIONS),
        "measures": measures,
        "prompt_baselines": {d: dict(p) for d, p in baselines.items()},
        "scores": [_json_row(r) for r in scores],
        "leakage": [asdict(r) for r in leakage],
        "judges": _judge_totals(judges, measured),
        "option_mass": _option_mass(measured),
        "examples": [asdict(e) for e in examples],
        "warnings": list(warnings),
        "seconds": round(seconds, 2),
    }
    out_dir = run_dir / "evaluation"
    path = out_dir / "results.json"
    write_json(path, data)
    atomic_write(out_dir / "results.csv", lambda tmp: _write_csv(tmp, scores))
    atomic_write(out_dir / "answers.jsonl", lambda tmp: _write_answers(tmp, measured, options))
    return EvaluationResult(run_dir, path, data, scores, leakage, examples)


def _json_row(row: ScoreRow) -> dict[str, Any]:
    # NaN is not JSON: a figure without units is written as null.
    return {
        k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(row).items()
    }


def _option_mass(measured: Mapping[SettingKey, Measured]) -> dict[str, float]:
    """Mean probability mass on the six answer letters, per condition (a sanity check: a low
    mass means the model did not answer the questionnaire with a letter)."""
    by_condition: dict[str, list[float]] = {}
    for (_, condition, _), m in measured.items():
        by_condition.setdefault(condition, []).append(float(m.option_mass.mean()))
    return {c: round(sum(v) / len(v), 6) for c, v in by_condition.items()}


def _write_csv(path: Path, rows: Sequence[ScoreRow]) -> None:
    columns = [f.name for f in fields(ScoreRow)]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in _json_row(row).items()})


def _write_answers(
    path: Path, measured: Mapping[SettingKey, Measured], options: EvaluateOptions
) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for (dimension, condition, gamma), m in measured.items():
            for i, (prompt, answer) in enumerate(zip(m.prompts, m.answers, strict=True)):
                record = {
                    "steered_dimension": dimension,
                    "condition": condition,
                    "gamma": gamma,
                    "prompt_id": prompt.id,
                    "answer": answer,
                    "degenerate": is_degenerate(answer, **_degenerate_options(options)),
                    "judges": {name: asdict(r[i]) for name, r in m.ratings.items()},
                }
                handle.write(json.dumps(record) + "\n")
