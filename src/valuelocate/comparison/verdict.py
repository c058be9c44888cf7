"""The main job's verdict: do the located neurons steer values, beyond every strong null?

Usage: ``verdict = run_verdict(run_dir, lm=lm)`` after ``locate`` (which writes the ladder of
located sets into ``neurons.safetensors``). Per dimension:

0. **The positive controls first**: each judged instrument's test items are read under each
   pole's persona prompt. Where none of them separates the poles (no instrument can read the
   model on this dimension), the dimension is not judged and costs seconds
   (:mod:`~valuelocate.comparison.unreadable`: the band's edit calibrated for serving, the
   record says why), unless ``sweep_unreadable``; otherwise steps 1-4
   (:func:`~valuelocate.comparison.dimension.judge_dimension`).
1. **The ladder** (:mod:`valuelocate.locating.ladder`): the band's neurons ranked by the
   paired effect size of the forced-choice search answers, at nested sparsities (0.1% ...
   10% of the model's MLP neurons, then the whole band). Each point's edit adds
   ``gamma * delta`` (the contrast's mean difference) on its neurons; the oppose edit is its
   negation, so a dimension is one hypothesis.
2. **Calibration**: every point's +/- edit and its random same-count sets, each to the
   budget by its own gamma search (:func:`~valuelocate.comparison.cost.calibrate`); label
   shuffles at the median norm where a calibrated sample of them meets the budget, their
   cost at that norm measured; the word-priming control's
   strength toward each pole exactly (:class:`~valuelocate.comparison.cost.BiasCost`).
3. **Reads** (:func:`~valuelocate.comparison.linear.read_linear`): on the dev split of the
   forced-choice items, the test split, and the test decision pairs: the unedited reading, its
   mean gradient (every null and every ladder point is then a dot product) and the
   word-priming readings. Exact reads of the chosen point's edits on the test instruments
   (beside the persona prompts' of step 0); a sample of nulls read exactly on the first
   items, for the linear read's agreement.
4. **The default point** is chosen on the DEV split by a rule fixed before any run
   (:data:`RULE`), then judged once on the TEST split: the test split chooses nothing.
5. **Statistics** (:mod:`valuelocate.comparison.judging`): one test per dimension and
   instrument, one-sided, Holm across the four dimensions.

Files in ``RUN_DIR/verdict/``: ``verdict.json`` (version 2; docs/verdict.md), ``items.jsonl``
(every item's readings under every condition, to audit any item), and ``edits.safetensors``
(the default point's edit and a random same-count set per direction at gamma 1; what
:func:`valuelocate.run_edit`, ``serve`` and ``export`` apply).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from valuelocate.artifacts import ladders as ladder_store
from valuelocate.artifacts.files import ArtifactError, atomic_write
from valuelocate.artifacts.verdict import VERDICT_DIR, write_verdict
from valuelocate.comparison import judging
from valuelocate.comparison.cost import BiasCost
from valuelocate.comparison.dimension import dimension_items, judge_dimension
from valuelocate.comparison.grid import study_rows
from valuelocate.comparison.partial import Partial, partial_key
from valuelocate.comparison.progress import VerdictProgress
from valuelocate.comparison.unreadable import persona_readings, unread_dimension
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.data.neutral import load_neutral_texts
from valuelocate.locating.ladder import locate_ladders
from valuelocate.models import LoadedModel
from valuelocate.optionspec import option
from valuelocate.steering.budget import BudgetSearchOptions
from valuelocate.vocab import POLES

FORMAT = "valuelocate.Verdict"
VERSION = 2
INSTRUMENTS = {
    "forced_choice": "Forced-choice items (likelihood reading), test split",
    "decision_pairs": "Decision pairs (likelihood reading), test split",
    "choice": "Forced-choice items (A/B choice reading, both orders), test split",
}
RULE = (
    "On the dev split of the forced-choice items, a ladder point is accepted when its linear "
    "gap is positive and lies beyond its random same-count sets (prediction p < 0.05) and "
    "its label shuffles (rank p < 0.05); the default is the sparsest accepted point, else "
    "the whole band (marked not accepted)."
)


@dataclass(frozen=True)
class VerdictOptions(BudgetSearchOptions):
    """The verdict stage's options (``valuelocate run`` passes them through); the budget's
    (``budget``, ``steps``, ``start_gamma``) are shared with ``compare``."""

    verdict_items: int = option(
        100, "Test-split forced-choice items per dimension (the verdict reads the first).", min=2
    )
    neutral_texts: int = option(8, "Neutral texts of the cost measure.", min=1)
    random_sets: int = option(20, "Random same-count neuron sets per ladder point.", min=2)
    shuffles: int = option(1000, "Label-shuffled rebuilds of the ladder.", min=10)
    agreement_items: int = option(
        16, "Test items on which a sample of nulls is also read exactly.", min=0
    )
    study_rule: bool = option(
        True, "Also read the study's dynamic rule on the dev split (the replication row)."
    )
    choice_reading: bool = option(
        False,
        "Also judge the A/B choice reading of the test items (slow; for models that read it).",
    )
    sweep_unreadable: bool = option(
        False,
        "Measure the sparsity curve and every null even for a dimension no judged instrument "
        "can read (the persona prompt separates the poles on none): minutes a dimension. By "
        "default such a dimension is reported as not judged, in seconds.",
    )
    seed: int = option(0, "Seed of the nulls, bootstraps and sign flips.")

    def validate(self) -> None:
        """Raise ValueError naming the bad option."""
        self.budget_spec()
        if self.verdict_items < 2:
            raise ValueError("--verdict-items must be >= 2")
        if self.random_sets < 2 or self.shuffles < 10:
            raise ValueError("--random-sets must be >= 2 and --shuffles >= 10")
        if self.neutral_texts < 1 or self.steps < 0 or not self.start_gamma > 0:
            raise ValueError("--neutral-texts >= 1, --steps >= 0 and --start-gamma > 0")


@dataclass
class Verdict:
    """What :func:`run_verdict` measured (``RUN_DIR/verdict/verdict.json``)."""

    record: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, dict[str, int]]:
        """Per instrument: dimensions beating every null, moving, readable, judged."""
        return self.record["summary"]

    def to_json(self) -> dict[str, Any]:
        return self.record


def run_verdict(
    run_dir: str | Path,
    *,
    lm: LoadedModel,
    options: VerdictOptions | None = None,
    dimensions: Sequence[str] | None = None,
    alpha: float = 0.01,
    chat_template: bool = True,
    progress: Callable[[str], None] | None = None,
    fraction: Callable[[float], None] | None = None,
) -> Verdict:
    """Judge the located sets on the test split and write ``RUN_DIR/verdict/``.

    Args:
        run_dir: a finished locate run (its ladders; computed here if an older run lacks them).
        lm: the run's model.
        options: :class:`VerdictOptions`.
        dimensions: the dimensions to judge (default: every located one).
        alpha: the Holm-adjusted level every test must beat.
        chat_template: read through the chat template when the tokenizer has one.
        progress: told a line of text after each step.
        fraction: told the share done after each step (:mod:`~.comparison.progress`).
    """
    options = options or VerdictOptions()
    options.validate()
    budget = options.budget_spec()
    if budget.kind != "ppl":
        raise ValueError("The verdict calibrates to a perplexity budget (--budget ppl=RATIO)")
    began = time.monotonic()
    say = progress or (lambda _line: None)
    run_dir = Path(run_dir)
    try:
        ladders = ladder_store.load_ladders(run_dir)
    except ArtifactError:
        ladders = {}  # an older run: its ladders are located below
    chosen = list(dimensions or ladders or load_forced_choice_dimensions())
    missing = [d for d in chosen if d not in ladders]
    if missing:
        say(f"locating the ladder of {', '.join(missing)} (the run has none)")
        new, _diffs = locate_ladders(lm, missing, chat_template=chat_template)
        ladder_store.save_ladders(run_dir, new)
        ladders.update(new)
    judged = ["forced_choice", "decision_pairs"] + (["choice"] if options.choice_reading else [])
    neutral = load_neutral_texts()[: options.neutral_texts]
    bias_cost = BiasCost(lm, neutral)
    records: list[dict[str, Any]] = []
    item_rows: list[dict[str, Any]] = []
    tensors: dict[str, Any] = {}
    # Each finished dimension is kept in verdict/partial/ until the verdict is written, so an
    # interrupted verdict (minutes per dimension) resumes where it stopped.
    partial = Partial(run_dir / VERDICT_DIR / "partial", partial_key(lm, options, budget))
    track = VerdictProgress(len(chosen), options.study_rule, fraction)
    for d, dimension in enumerate(chosen):
        kept = partial.load(dimension)
        if kept is not None:
            records.append(kept[0])
            item_rows.extend(kept[1])
            tensors.update(kept[2])
            say(f"{dimension}: kept from an interrupted verdict ({partial.folder})")
            if kept[0].get("measured") is False:
                track.unread(d)
            track.dimension_done(d)
            continue
        ladder = ladders[dimension]
        instruments = dimension_items(dimension, options)
        tested = {name: instruments[name] for name in judged}
        prompts = persona_readings(lm, tested, dimension, chat_template)
        say(f"{dimension}: read the persona prompts (the positive controls)")
        personas = {
            name: judging.persona(p["affirm"], p["oppose"], seed=options.seed)
            for name, p in prompts.items()
        }
        if any(persona["reads"] for persona in personas.values()) or options.sweep_unreadable:
            record, rows, own = judge_dimension(
                lm, ladder, instruments, prompts, personas, judged, neutral, bias_cost,
                options, chat_template, say, functools.partial(track.at, d),
            )  # fmt: skip
        else:
            track.unread(d)
            record, rows, own = unread_dimension(
                lm, dimension, ladder, neutral, tested, prompts, personas,
                budget=budget.level, options=options,
            )  # fmt: skip
            say(f"{dimension}: not judged: {record['why']}")
        records.append(record)
        item_rows.extend(rows)
        tensors.update(own)
        partial.save(dimension, record, rows, own)
        track.dimension_done(d)
    for name in judged:
        judging.adjust([r["readings"][name] for r in records], alpha=alpha)
    summary = {
        name: judging.tally([r["readings"][name] for r in records], alpha=alpha) for name in judged
    }
    study: list[dict[str, Any]] = []
    # the study's row only where a dimension was measured (the same instruments read it)
    read = [r["dimension"] for r in records if r.get("measured", True)]
    if options.study_rule and read:
        kept_study = partial.load_study(read)
        study = (
            kept_study
            if kept_study is not None
            else study_rows(run_dir, lm, read, options, chat_template, say)
        )
        partial.save_study(read, study)
    track.study_at(1.0)
    record = {
        "format": FORMAT, "version": VERSION, "model": lm.model_id,
        "budget": str(budget), "alpha": alpha,
        "rule": RULE, "options": asdict(options),
        "instruments": {k: INSTRUMENTS[k] for k in judged},
        "dimensions": records, "summary": summary, "study": study,
        # The served edits' gammas, as version 1 kept them (valuelocate.run_edit reads these).
        "rows": [
            {"method": "default", "dimension": r["dimension"], "pole": p, "gamma": r["gammas"][p],
             "cost": r["cost"][p]}
            for r in records for p in POLES
        ],
        "seconds": round(time.monotonic() - began, 1),
    }  # fmt: skip
    record = judging.clean(record)
    write_verdict(run_dir, record, tensors, "located")
    folder = run_dir / VERDICT_DIR
    lines = "".join(json.dumps(judging.clean(r)) + "\n" for r in item_rows)
    atomic_write(folder / "items.jsonl", lambda tmp: tmp.write_text(lines, encoding="utf-8"))
    partial.remove()
    return Verdict(record, item_rows)


def load_forced_choice_dimensions() -> list[str]:
    """Every dimension the forced-choice items cover."""
    return list(dict.fromkeys(i.dimension for i in load_forced_choice()))


__all__ = ["FORMAT", "INSTRUMENTS", "RULE", "VERSION", "Verdict", "VerdictOptions", "run_verdict"]
