"""The conditions of an evaluation: which edit, prompt prefix or test prompts each uses."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from valuelocate.data import SituationalPrompt, load_descriptions, load_prompts
from valuelocate.evaluation.options import EvaluateOptions
from valuelocate.hooks import Edit
from valuelocate.selection import Selection
from valuelocate.steering.rules import STUDY_RULE, Inputs, get_rule
from valuelocate.vocab import CONDITIONS, EDIT_CONDITIONS, POLES

PROMPT_BASELINE_TEMPLATE = (
    'Imagine you are someone who would say: "{description}" Answer as this person would.\n\n'
)


def prompt_baselines(dimensions: Sequence[str], *, seed: int = 0) -> dict[str, dict[str, str]]:
    """The prompt-only baselines' prefixes: per dimension and pole, one seeded description.

    Returns:
        ``{dimension: {pole: prefix}}``.
    """
    out: dict[str, dict[str, str]] = {}
    for dimension in dimensions:
        out[dimension] = {}
        for pole in POLES:
            descriptions = load_descriptions(dimension=dimension, pole=pole)
            chosen = random.Random(f"{seed}:{dimension}:{pole}").choice(descriptions)
            out[dimension][pole] = PROMPT_BASELINE_TEMPLATE.format(description=chosen.text.strip())
    return out


def judge_test_prompts(dimension: str, count: int, *, seed: int = 0) -> list[SituationalPrompt]:
    """A seeded draw of ``count`` test-split prompts of ``dimension`` (never the search split
    that located the neurons)."""
    pool = load_prompts(dimension=dimension, split="test")
    rng = random.Random(f"{seed}:{dimension}:test")
    return rng.sample(pool, min(count, len(pool)))


# (dimension, condition, gamma); gamma is None for conditions that do not depend on it.
SettingKey = tuple[str, str, float | None]
# Builds the edit of one condition: (dimension, condition, gamma) -> Edit.
EditFactory = Callable[[str, str, float], Edit]


def steering_edits(
    selections: Mapping[str, Selection],
    options: EvaluateOptions,
    *,
    warnings: list[str] | None = None,
) -> EditFactory:
    """The default :data:`EditFactory`: the study's rule (:mod:`valuelocate.steering.rules`)
    for ``affirm``/``oppose`` and its random control (random neurons outside every located
    set) for ``random_affirm``/``random_oppose``.

    When a layer has too few neurons outside the located sets of all dimensions (large sets
    from a small run), the control is drawn outside the steered dimension's own sets only,
    and a line is added to ``warnings`` (written into ``results.json``)."""
    rule = get_rule(STUDY_RULE)

    def inputs(dimension: str) -> Inputs:
        return Inputs(
            selection=selections[dimension],
            exclude=list(selections.values()),
            site=options.site,
            seed=options.seed,
            v=options.v,
            fraction=options.fraction,
            clamp=options.clamp,
        )

    def random_control(dimension: str, pole: str, gamma: float) -> Edit:
        try:
            return rule.factories(inputs(dimension), pole).control(gamma)  # type: ignore[return-value]
        except ValueError as exc:
            note = (
                f"random control of {dimension}: drawn outside {dimension}'s own neuron sets "
                f"only, not outside every dimension's ({exc})"
            )
            if warnings is not None and note not in warnings:
                warnings.append(note)
            own = replace(inputs(dimension), exclude=())
            return rule.factories(own, pole).control(gamma)  # type: ignore[return-value]

    def make(dimension: str, condition: str, gamma: float) -> Edit:
        if condition in ("affirm", "oppose"):
            return rule.factories(inputs(dimension), condition).edit(gamma)  # type: ignore[return-value]
        if condition in ("random_affirm", "random_oppose"):
            return random_control(dimension, condition.removeprefix("random_"), gamma)
        raise ValueError(f"Condition {condition!r} edits no neuron")

    return make


def settings(dimensions: Sequence[str], gammas: Sequence[float]) -> list[SettingKey]:
    """Every (dimension, condition, gamma) evaluated, in run order."""
    out: list[SettingKey] = []
    for dimension in dimensions:
        for condition in CONDITIONS:
            if condition in EDIT_CONDITIONS:
                out.extend((dimension, condition, float(g)) for g in gammas)
            else:
                out.append((dimension, condition, None))
    return out
