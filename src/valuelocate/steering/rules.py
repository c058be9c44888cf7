"""Every steering rule by name: how to build its edit and its matched control.

A :class:`Rule` turns what a run left behind (:class:`Inputs`: a dimension's neuron sets, the
contrast statistics, the verdict's saved edits, a residual vector) and a pole into two
factories, strength -> edit, the edit and its matched control at the same strength
(:class:`Built`). The comparison grid, the evaluation's conditions, ``steer``, ``serve`` and the
verdict all build their edits here, so a new rule is one module in ``steering/`` and one line in
:data:`RULES`.

Example:
    >>> built = get_rule("dynamic").factories(Inputs(selection=sets["conservation"]), "affirm")
    >>> edit, control = built.edit(1.0), built.control(1.0)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from valuelocate.selection import Selection
from valuelocate.stats import NeuronStats
from valuelocate.steering.dynamic import random_control_edit, steering_edit
from valuelocate.steering.intervention import Intervention
from valuelocate.steering.mean_diff import (
    MeanDiffEdit,
    band_edit,
    mean_difference,
    permuted_control,
    selected_edit,
)
from valuelocate.steering.residual import ResidualSteer
from valuelocate.steering.simple import ablate_edit, add_edit, random_set, scale_edit
from valuelocate.steering.word_priming import LogitBias
from valuelocate.vocab import Scope, Site

Factory = Callable[[float], Intervention]
# (pole, control) -> the verdict's edit at gamma 1 and the gamma it calibrated
VerdictDirections = Mapping[tuple[str, bool], tuple[MeanDiffEdit, float]]


@dataclass(frozen=True)
class Inputs:
    """What a rule builds from, for one dimension (fields a rule does not need stay unset).

    Attributes:
        selection: the dimension's two neuron sets.
        exclude: every other located set (a random control avoids them all).
        stats: pole -> contrast statistics (``mean-diff`` from statistics).
        band: ``mean-diff`` on every neuron of these layers instead of the selection.
        verdict: the run's verdict edits for the dimension (``mean-diff`` as served; the
            strength is then a multiple of the gamma the verdict calibrated).
        residual: the residual vector (affirm minus oppose) and its layer.
        answer_log_odds: ``[vocab]`` unigram log-odds of each token between the affirming
            and the opposing answers of the contrast's search items (``word-priming``; see
            :func:`~valuelocate.steering.word_priming.unigram_log_odds`).
        site: where the neurons were located.
        seed: the seed of the draws and of the controls.
        v, fraction, clamp: the dynamic rule's options (:func:`steering_edit`).
    """

    selection: Selection | None = None
    exclude: Sequence[Selection] = ()
    stats: Mapping[str, NeuronStats] | None = None
    band: tuple[int, ...] | None = None
    verdict: VerdictDirections | None = None
    residual: tuple[Tensor, int] | None = None
    answer_log_odds: Tensor | None = None
    site: Site = "act"
    seed: int = 0
    v: str = "q95"
    fraction: float = 0.9
    clamp: bool = True


class Built(NamedTuple):
    """A rule's two factories for one direction, and how many neurons (or entries) it edits."""

    edit: Factory
    control: Factory
    neurons: int


def _other(pole: str) -> str:
    return "oppose" if pole == "affirm" else "affirm"


def _selection(inputs: Inputs) -> Selection:
    if inputs.selection is None:
        raise ValueError("This rule needs the dimension's neuron sets")
    return inputs.selection


def _dynamic(inputs: Inputs, pole: str) -> Built:
    selection = _selection(inputs)
    options = {
        "v": inputs.v,
        "fraction": inputs.fraction,
        "seed": inputs.seed,
        "clamp": inputs.clamp,
        "site": inputs.site,
    }

    def edit(gamma: float) -> Intervention:
        return steering_edit(selection, pole, gamma, **options)  # type: ignore[arg-type]

    def control(gamma: float) -> Intervention:
        return random_control_edit(selection, pole, gamma, exclude=inputs.exclude, **options)  # type: ignore[arg-type]

    return Built(edit, control, len(selection.affirm) + len(selection.oppose))


def _mean_diff(inputs: Inputs, pole: str) -> Built:
    if inputs.verdict is not None:  # the verdict's saved edits, relative to its gamma
        edit, gamma = inputs.verdict[(pole, False)]
        control, control_gamma = inputs.verdict[(pole, True)]
        return Built(
            lambda size: edit.with_gamma(size * gamma),
            lambda size: control.with_gamma(size * control_gamma),
            sum(edit.counts().values()),
        )
    if inputs.stats is None:
        raise ValueError("The mean-diff rule needs contrast statistics or the verdict's edits")
    diff = mean_difference(inputs.stats[pole], inputs.stats[_other(pole)])
    if inputs.band is not None:
        made = band_edit(diff, inputs.band, gamma=1.0, site=inputs.site)
        matched = permuted_control(made, neurons_per_layer=diff.shape[1], seed=inputs.seed)
    else:
        selection = _selection(inputs)
        located = {
            layer: torch.cat([s.index[s.layer == layer] for s in selection])
            for layer in torch.cat([s.layer for s in selection]).unique().tolist()
        }
        made = selected_edit(diff, located, gamma=1.0, site=inputs.site)
        exclude = torch.cat([s.flat_index for s in selection])
        matched = permuted_control(
            made, neurons_per_layer=diff.shape[1], exclude=exclude, seed=inputs.seed
        )
    return Built(made.with_gamma, matched.with_gamma, sum(made.counts().values()))


def _residual(inputs: Inputs, pole: str) -> Built:
    if inputs.residual is None:
        raise ValueError("The residual rule needs a residual vector and its layer")
    affirm, layer = inputs.residual
    # a - b == -(b - a) exactly in floating point: the same vector as computing it anew.
    vector = affirm if pole == "affirm" else -affirm
    steer = ResidualSteer(vector, layer, 1.0)
    return Built(steer.with_gamma, steer.control(seed=inputs.seed).with_gamma, vector.numel())


def _word_priming(inputs: Inputs, pole: str) -> Built:
    if inputs.answer_log_odds is None:
        raise ValueError("The word-priming rule needs the answers' unigram log-odds")
    prime = LogitBias(inputs.answer_log_odds, 1.0, 1 if pole == "affirm" else -1)
    return Built(prime.with_gamma, prime.control(seed=inputs.seed).with_gamma, prime.bias.numel())


def _on_set(make: Callable[..., Intervention]) -> Callable[[Inputs, str], Built]:
    """A rule rewriting the pole's set with ``make(set, gamma, site=...)``; its control is the
    same rewrite on random neurons."""

    def build(inputs: Inputs, pole: str) -> Built:
        selection = _selection(inputs)
        target = selection.pole(pole)  # type: ignore[arg-type]
        stand_in = random_set(selection, pole, exclude=inputs.exclude, seed=inputs.seed)
        return Built(
            lambda gamma: make(target, gamma, site=inputs.site),
            lambda gamma: make(stand_in, gamma, site=inputs.site),
            len(target),
        )

    return build


def _mean_diff_missing(inputs: Inputs) -> str | None:
    if inputs.verdict is None and inputs.stats is None:
        return (
            "is the verdict's steering, and there is no verdict to read it from (valuelocate run "
            "writes RUN_DIR/verdict/) nor contrast statistics to build it"
        )
    return None


@dataclass(frozen=True)
class Rule:
    """One steering rule.

    Attributes:
        name: what configurations, requests and options call it.
        description: one line.
        build: ``(inputs, pole) -> Built``; ``None`` for a baseline that edits no neuron.
        needs: the :class:`Inputs` fields a caller gathers for it (``selection``, ``stats``,
            ``residual``).
        control_name: the name its control is served under (``None``: not served).
        scope: where a server applies it when a request names no scope.
        missing: ``inputs -> why the rule cannot be built from them`` (``None``: it can).
    """

    name: str
    description: str
    build: Callable[[Inputs, str], Built] | None
    needs: frozenset[str] = frozenset()
    control_name: str | None = None
    scope: Scope = "generated"
    missing: Callable[[Inputs], str | None] = lambda inputs: (
        None if inputs.selection is not None else "needs the dimension's neuron sets"
    )

    @property
    def edits(self) -> bool:
        """Whether the rule edits the model (the prompt baseline does not)."""
        return self.build is not None

    def factories(self, inputs: Inputs, pole: str) -> Built:
        """The edit and the control factories for ``pole``."""
        if self.build is None:
            raise ValueError(f"Rule {self.name!r} edits no neuron")
        return self.build(inputs, pole)


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("dynamic", "the study's: push 90% of the pole's neurons by v*gamma*sigmoid(10(d-0.15)), clamp the other pole's; control: the same on random neurons", _dynamic, frozenset({"selection"}), "random_control"),  # noqa: E501
        Rule("mean-diff", "add gamma*(mean_pole - mean_other) to the located neurons or a band of layers; control: the vector permuted", _mean_diff, frozenset({"stats", "selection"}), "mean-diff-control", "all", _mean_diff_missing),  # noqa: E501
        Rule("residual", "add gamma*(residual-stream mean difference) after one layer; control: the vector permuted", _residual, frozenset({"residual"}), missing=lambda i: None if i.residual is not None else "needs a residual vector"),  # noqa: E501
        Rule("word-priming", "the word-priming null: add gamma*(answers' unigram log-odds) to the output logits; control: the bias permuted over the vocabulary", _word_priming, frozenset({"answer_log_odds"}), missing=lambda i: None if i.answer_log_odds is not None else "needs the answers' unigram log-odds"),  # noqa: E501
        Rule("prompt", "the prompt baseline: a persona prefix, no edit", None, missing=lambda i: None),  # noqa: E501
        Rule("scale", "a <- gamma*a on the pole's neurons; control: the same on random neurons", _on_set(scale_edit), frozenset({"selection"})),  # noqa: E501
        Rule("add", "a <- a + gamma on the pole's neurons; control: the same on random neurons", _on_set(add_edit), frozenset({"selection"})),  # noqa: E501
        Rule("ablate", "a <- 0 on the pole's neurons (gamma unused); control: the same on random neurons", _on_set(lambda s, _g, site: ablate_edit(s, site=site)), frozenset({"selection"})),  # noqa: E501
    )
}  # fmt: skip
# The study's rule: what evaluate and steer apply.
STUDY_RULE = "dynamic"
VERDICT_RULE = "mean-diff"  # the main job's default edit, as its verdict calibrated it


def default_served_rule(has_verdict: bool) -> str:
    """What a server steers with when a request names no rule: a run with a verdict steers as
    its verdict did, any other run by the study's rule."""
    return VERDICT_RULE if has_verdict else STUDY_RULE


def _unknown(name: str, known: Sequence[str], what: str = "rule") -> ValueError:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ValueError(f"Unknown {what} {name!r}{hint}; expected one of: {', '.join(known)}")


def get_rule(name: str) -> Rule:
    """The rule called ``name``.

    Raises:
        ValueError: no such rule (with the closest name, and the list of rules).
    """
    if name not in RULES:
        raise _unknown(name, list(RULES))
    return RULES[name]


def describe() -> str:
    """One line per rule: ``name: description``."""
    return "\n".join(f"{r.name}: {r.description}" for r in RULES.values())


# ---------------------------------------------------------------- served rules

# served name -> (inputs, pole, strength) -> Edit
ServedBuilder = Callable[[Inputs, str, float], Intervention]


def served_rule(name: str) -> tuple[Rule, bool] | None:
    """``(rule, control?)`` of a served name (a rule's or its control's), else ``None``."""
    for rule in RULES.values():
        if rule.control_name is not None and name in (rule.name, rule.control_name):
            return rule, name == rule.control_name
    return None


def served_builders() -> dict[str, ServedBuilder]:
    """Every rule a server offers, and its control, by the name a request gives."""
    out: dict[str, ServedBuilder] = {}
    for rule in RULES.values():
        if rule.control_name is None:
            continue
        for name, control in ((rule.name, False), (rule.control_name, True)):

            def build(
                inputs: Inputs, pole: str, size: float, rule: Rule = rule, control: bool = control
            ) -> Intervention:
                built = rule.factories(inputs, pole)
                return (built.control if control else built.edit)(size)

            out[name] = build
    return out


def unknown_rule(name: str, known: Sequence[str]) -> ValueError:
    """The error for a rule name outside ``known``, with a did-you-mean."""
    return _unknown(name, known)
