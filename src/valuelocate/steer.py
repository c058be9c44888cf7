"""Steering one prompt: the unedited and the edited answer, side by side (``valuelocate
steer``).

The answers come from the same generator and defaults as the evaluation's judged answers
(:mod:`valuelocate.generation`), so ``steer`` shows the text that ``evaluate`` judged for the
same prompt, edit, gamma and seed.

Example:
    >>> plain, edited = steer_prompt("runs/smol", "Should I move abroad?",
    ...                       options=SteerOptions(dimension="openness_to_change", gamma=2))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from valuelocate.architectures import ArchSpec, attach_arch, model_shape
from valuelocate.artifacts import load_neuron_sets, read_json
from valuelocate.generation import GenerationConfig, generate_answers
from valuelocate.hooks import Edit
from valuelocate.models import LoadedModel, load_model
from valuelocate.optionspec import option, with_overrides
from valuelocate.steering.dynamic import V_SOURCES
from valuelocate.steering.rules import STUDY_RULE, Inputs, get_rule
from valuelocate.vocab import DIMENSIONS, POLES, SCOPES, SITES, Scope, Site, check_choice

_DEFAULTS = GenerationConfig()


@dataclass(frozen=True)
class SteerOptions:
    """What ``valuelocate steer`` edits and how it answers."""

    dimension: str = option("conservation", "Dimension to steer.", flag="--dimension")
    pole: str = option("affirm", "Direction: affirm or oppose.")
    gamma: float = option(1.0, "Strength of the edit (the study swept 0.1-2.0).")
    v: str = option("q95", "Per-neuron value v: q95 (default) or p.")
    fraction: float = option(
        0.9, "Share of neurons pushed at each call (redrawn).", min=0.0, max=1.0
    )
    clamp: bool = option(True, "Clamp the other pole's neurons to min(a, 0).")
    scope: Scope = option("generated", "Tokens edited: generated, prompt or all.")
    seed: int = option(0, "Seed of the random draws.")
    max_new_tokens: int = option(_DEFAULTS.max_new_tokens, "Answer length.", min=1)
    temperature: float = option(0.0, "0: greedy; else seeded sampling.", min=0.0)
    repetition_penalty: float = option(
        _DEFAULTS.repetition_penalty, "Repetition penalty (as in evaluate)."
    )
    chat_template: bool = option(True, "Use the model's chat template.")

    def validate(self) -> None:
        """Raise ValueError naming the bad option."""
        check_choice("--dimension", self.dimension, DIMENSIONS)
        check_choice("--pole", self.pole, POLES)
        check_choice("--v", self.v, V_SOURCES)
        check_choice("--scope", self.scope, SCOPES)
        self.generation().validate()

    def generation(self) -> GenerationConfig:
        return GenerationConfig(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            repetition_penalty=self.repetition_penalty,
            batch_size=1,
            seed=self.seed,
            chat_template=self.chat_template,
            scope=self.scope,
        )


def run_steering_edit(
    neurons: Path, lm: LoadedModel, options: SteerOptions, *, site: Site | None = None
) -> Edit:
    """The study's dynamic edit for ``options`` from a run's neuron sets, at the run's site
    (``site`` overrides it)."""
    manifest = read_json(neurons / "manifest.json")
    located = site or manifest.get("options", {}).get("site", "act")
    check_choice("site", located, SITES)
    sets = load_neuron_sets(neurons, expect=model_shape(lm.model))
    if options.dimension not in sets:
        raise ValueError(
            f"Dimension {options.dimension!r} was not located in {neurons}; "
            f"it has: {', '.join(sets)}"
        )
    inputs = Inputs(
        selection=sets[options.dimension],
        site=cast(Site, located),
        seed=options.seed,
        v=options.v,
        fraction=options.fraction,
        clamp=options.clamp,
    )
    return get_rule(STUDY_RULE).factories(inputs, options.pole).edit(options.gamma)  # type: ignore[return-value]


def steer_prompt(
    neurons: str | Path,
    prompt: str,
    *,
    options: SteerOptions | None = None,
    lm: LoadedModel | None = None,
    model: str | None = None,
    device: str | None = None,
    arch: ArchSpec | None = None,
    **overrides: Any,
) -> tuple[str, str]:
    """The unedited and the edited answer to ``prompt``.

    Args:
        neurons: a ``valuelocate locate`` run directory.
        prompt: the prompt to answer.
        options: :class:`SteerOptions`; any field may also be passed as a keyword.
        lm: a loaded model (default: ``model``, or the run's model).
        model, device: which model to load and where.
        arch: an architecture spec for a family outside the table.

    Returns:
        ``(unedited, edited)``.
    """
    options = with_overrides(options or SteerOptions(), overrides)
    options.validate()
    neurons = Path(neurons)
    if lm is None:
        manifest = read_json(neurons / "manifest.json")
        lm = load_model(model or manifest["model"]["id"], device=device)
    attach_arch(lm.model, arch)
    edit = run_steering_edit(neurons, lm, options)
    config = options.generation()
    (plain,) = generate_answers(lm, [prompt], config=config)
    (edited,) = generate_answers(lm, [prompt], config=config, edit=edit)
    return plain, edited
