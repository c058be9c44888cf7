"""One dimension of the main job's verdict, judged: steps 1-4 of
:mod:`valuelocate.comparison.verdict` (the word-priming control at the budget, the gradient
reads, the sparsity curve calibrated with its nulls, the dev rule's default point, its exact
reads on the test instruments against the persona prompts read before, the agreement sample).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import Tensor

from valuelocate.artifacts import ArtifactError
from valuelocate.artifacts.verdict import edit_tensors
from valuelocate.comparison import judging
from valuelocate.comparison.cost import BiasCost
from valuelocate.comparison.curve import (
    DimensionReads,
    calibrate_ladder,
    choose_default,
    curve_rows,
)
from valuelocate.comparison.linear import agreement, read_linear
from valuelocate.comparison.unreadable import exact_reading
from valuelocate.comparison.word_control import strengths, word_bias
from valuelocate.data.decision_pairs import load_decision_pairs
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.locating.ladder import Ladder, item_differences
from valuelocate.models import LoadedModel
from valuelocate.steering.ladder import differences_digest
from valuelocate.vocab import POLES

if TYPE_CHECKING:
    from valuelocate.comparison.verdict import VerdictOptions


def dimension_items(dimension: str, options: VerdictOptions) -> dict[str, list[Any]]:
    """A dimension's items per read: the dev split (the curve's rule) and each test
    instrument."""
    instruments: dict[str, list[Any]] = {
        "dev": sorted(load_forced_choice(dimension=dimension, split="dev"), key=lambda i: i.id),
        "forced_choice": sorted(
            load_forced_choice(dimension=dimension, split="test"), key=lambda i: i.id
        )[: options.verdict_items],
        "decision_pairs": sorted(
            load_decision_pairs(dimension=dimension, split="test"), key=lambda i: i.id
        ),
    }
    if options.choice_reading:  # the A/B reading of the same test items
        instruments["choice"] = instruments["forced_choice"]
    return instruments


def ladder_differences(
    lm: LoadedModel, ladder: Ladder, search: Sequence[Any], chat_template: bool
) -> tuple[Tensor, bool | None]:
    """The per-item differences ``ladder`` was ranked by, recomputed (the run keeps only
    their digest), and whether they are the located ones to the bit (None: a ladder written
    before digests). Another device or precision than locating's may differ in the last bits:
    the label shuffles then re-rank differences a rounding away from the ranked ones.

    Raises:
        ArtifactError: the ladder was ranked on other search items than ``search``.
    """
    ids = tuple(item.id for item in search)
    if ladder.item_ids and ladder.item_ids != ids:
        raise ArtifactError(
            f"The {ladder.dimension} ladder was ranked on other search items than this "
            "version's: locate the run again (valuelocate locate --resume)"
        )
    diffs = item_differences(lm, search, ladder.layers, chat_template=chat_template)
    return diffs, differences_digest(diffs) == ladder.digest if ladder.digest else None


def judge_dimension(
    lm: LoadedModel,
    ladder: Ladder,
    instruments: dict[str, list[Any]],
    prompts: dict[str, dict[str, np.ndarray]],
    personas: dict[str, dict[str, Any]],
    judged: Sequence[str],
    neutral: Sequence[str],
    bias_cost: BiasCost,
    options: VerdictOptions,
    chat_template: bool,
    say: Callable[[str], None],
    at: Callable[[str, float], None],
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """One dimension judged (steps 1-4 of the module docstring): its record, per-item rows
    and served edit tensors. ``prompts``: each judged instrument's persona readings;
    ``personas``: their tests (:func:`~valuelocate.comparison.judging.persona`)."""
    budget = options.budget_spec()
    dimension = ladder.dimension
    search = load_forced_choice(dimension=dimension, split="search")
    diffs, same = ladder_differences(lm, ladder, search, chat_template)
    if same is False:
        say(f"{dimension}: the recomputed ladder differences differ from the located ones")
    bias = word_bias(lm, search, chat_template)
    strength = strengths(bias_cost, bias, budget.level, options.steps)
    biases = {
        "word_affirm": strength["affirm"][0] * bias,
        "word_oppose": -strength["oppose"][0] * bias,
    }
    head = instruments["forced_choice"][: options.agreement_items]
    reads = {}
    for k, (name, items) in enumerate(instruments.items()):
        reads[name] = read_linear(
            lm, items, ladder.layers, biases=biases, chat_template=chat_template,
            reading="choice" if name == "choice" else "likelihood",
            head=len(head) if name == "forced_choice" else 0,
        )  # fmt: skip
        say(f"{dimension}: read {name} ({len(items)} items) with its gradient")
        at("reads", (k + 1) / len(instruments))
    # the agreement sample's gradient comes from the same passes as the test items'
    head_read = reads["forced_choice"].head(len(head)) if head else None
    dim_reads = DimensionReads(ladder, diffs, reads, head_read)
    calibrated = calibrate_ladder(
        lm,
        dim_reads,
        neutral,
        budget=budget.level,
        options=options,
        progress=lambda line: say(f"{dimension}: {line}"),
        share=functools.partial(at, "calibration"),
    )
    point, accepted = choose_default(calibrated)
    how = "accepted" if accepted else "none accepted: the band"
    say(f"{dimension}: default point {ladder.labels[point]} ({how})")
    gammas = calibrated.gammas[point]
    plus = ladder.edit(point, gammas["affirm"])
    minus = ladder.edit(point, gammas["oppose"], sign=-1.0)
    instrument_records, rows = {}, []
    for done, name in enumerate(judged, start=1):
        items = instruments[name]
        read = reads[name]
        affirm = exact_reading(lm, items, chat_template, name, edit=plus)
        oppose = exact_reading(lm, items, chat_template, name, edit=minus)
        prompt = prompts[name]
        judged_record = judging.judge(
            base=read.reading,
            affirm=affirm,
            oppose=oppose,
            word_affirm=read.biased["word_affirm"],
            word_oppose=read.biased["word_oppose"],
            prompt=personas[name],
            linear_gap=calibrated.edit_gap(point, name),
            random_gaps=calibrated.random_gaps(point, name),
            shuffle_gaps=calibrated.shuffle_gaps(point, name),
            seed=options.seed,
        )
        judged_record["linear"] = agreement(
            calibrated.edit_gap(point, name), float(np.mean(affirm - oppose))
        )
        judged_record["word_priming"]["strength"] = {p: strength[p][0] for p in POLES}
        judged_record["word_priming"]["cost"] = {p: strength[p][1] for p in POLES}
        judged_record["random_sets"]["costs"] = calibrated.random_costs(point)
        judged_record["shuffles"]["cost_sample"] = calibrated.shuffle_cost_sample(point)
        instrument_records[name] = judged_record
        for k, item in enumerate(items):
            rows.append({
                "dimension": dimension, "instrument": name, "id": item.id,
                "base": float(read.reading[k]), "edit_affirm": float(affirm[k]),
                "edit_oppose": float(oppose[k]),
                "word_affirm": float(read.biased["word_affirm"][k]),
                "word_oppose": float(read.biased["word_oppose"][k]),
                "prompt_affirm": float(prompt["affirm"][k]),
                "prompt_oppose": float(prompt["oppose"][k]),
            })  # fmt: skip
        say(f"{dimension}: judged {name}")
        at("judging", done / len(judged))
    agreed = calibrated.agreement(lm, head, chat_template, point) if head else {}
    record = {
        "dimension": dimension,
        "measured": True,
        "default": {
            "point": point, "label": ladder.labels[point], "neurons": ladder.sizes[point],
            "fraction": ladder.fractions[point], "accepted": accepted,
            "chosen_by": "the sparsest point the dev rule accepted" if accepted
            else "no point was accepted on the dev split: the whole band",
        },
        "gamma": gammas["affirm"], "gammas": gammas, "cost": calibrated.costs[point],
        "control": calibrated.control(point),
        "differences_match": same,
        "readings": instrument_records,
        "agreement": agreed,
        "curve": curve_rows(calibrated),
    }  # fmt: skip
    own: dict[str, Any] = {}
    for pole, edit in (("affirm", plus), ("oppose", minus)):
        own.update(edit_tensors(f"{dimension}.{pole}.edit", edit.with_gamma(1.0)))
        control = calibrated.control_edit(point, pole)
        own.update(edit_tensors(f"{dimension}.{pole}.control", control))
    return record, rows, own


__all__ = ["dimension_items", "judge_dimension", "ladder_differences"]
