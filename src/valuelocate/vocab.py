"""The shared vocabulary of ValueLocate: every name the pipeline's stages agree on.

Glossary:

- **dimension**: one of Schwartz's four higher-order values (:data:`DIMENSIONS`):
  openness_to_change, conservation, self_transcendence, self_enhancement. Each opposes one
  other on Schwartz's circle (:data:`OPPOSITE`).
- **pole**: ``affirm`` (holding the dimension's values) or ``oppose`` (rejecting them). Neurons
  are located by contrasting a dimension's two poles.
- **layer**: one decoder block of the transformer, numbered from 0 at the embedding side.
- **neuron**: coordinate j of the MLP's activation in layer l. For a gated MLP,
  ``down(act(gate(x)) * up(x))``, the neuron is coordinate j of ``act(gate(x))``: the gated
  branch before the product with ``up`` (the study's definition). For a plain MLP,
  ``down(act(in(x)))``, it is coordinate j of ``act(in(x))``. MLP neurons have a privileged
  basis because the activation function acts coordinate by coordinate.
- **site** (:data:`SITES`): the tensor a hook reads or writes. ``act`` is the activation
  function's output (the neuron itself); ``down_in`` is the input of the down projection
  (``act * up`` for gated MLPs, the same as ``act`` for plain ones).
- **scope** (:data:`SCOPES`): which token positions a hook touches: ``prompt``, ``generated``
  or ``all``. Padding is never in any scope.
- **gamma**: the strength of a steering edit.
- **condition** (:data:`CONDITIONS`): what an evaluation measures the model under: no edit,
  an edit toward a pole, its random control, or a prompt-only baseline.

This module imports nothing heavy, so that any stage (and the report) can use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

DIMENSIONS: tuple[str, ...] = (
    "openness_to_change",
    "conservation",
    "self_transcendence",
    "self_enhancement",
)
# Display names; unknown ids are title-cased by :func:`dimension_label`.
DIMENSION_LABELS: dict[str, str] = {
    "openness_to_change": "Openness to Change",
    "conservation": "Conservation",
    "self_transcendence": "Self-Transcendence",
    "self_enhancement": "Self-Enhancement",
}
# The dimension each one opposes on Schwartz's circle.
OPPOSITE: dict[str, str] = {
    "openness_to_change": "conservation",
    "conservation": "openness_to_change",
    "self_transcendence": "self_enhancement",
    "self_enhancement": "self_transcendence",
}

Pole = Literal["affirm", "oppose"]
POLES: tuple[Pole, ...] = get_args(Pole)

Site = Literal["act", "down_in"]
SITES: tuple[Site, ...] = get_args(Site)

Scope = Literal["prompt", "generated", "all"]
SCOPES: tuple[Scope, ...] = get_args(Scope)

Condition = Literal[
    "none",
    "affirm",
    "oppose",
    "random_affirm",
    "random_oppose",
    "prompt_affirm",
    "prompt_oppose",
]
CONDITIONS: tuple[Condition, ...] = get_args(Condition)
# Conditions that edit neurons (and so depend on gamma); the others are computed once.
EDIT_CONDITIONS: tuple[Condition, ...] = ("affirm", "oppose", "random_affirm", "random_oppose")

# How long work reports progress to whoever shows it (the CLI draws a bar from it; the library
# never draws): progress(description, done, total).
Progress = Callable[[str, int, int], None]


def dimension_label(dimension: str | None) -> str:
    """``"self_enhancement"`` -> ``"Self-Enhancement"`` (unknown ids are title-cased)."""
    if dimension is None:
        return "(none)"
    return DIMENSION_LABELS.get(dimension, dimension.replace("_", " ").title())


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise ValueError naming the option, the bad value and the choices."""
    if value not in choices:
        raise ValueError(f"Unknown {name} {value!r}; expected one of: {', '.join(choices)}")
