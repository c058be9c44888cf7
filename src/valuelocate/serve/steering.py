"""Per-request steering: ``values`` and model aliases -> edits, and one edit per batch row.

A request names its steering as ``values`` (``{"conservation": 1.0, "self_enhancement": -0.5}``:
the sign picks the pole, the size is gamma) or through a model alias
(``default+conservation:affirm``, optionally ``@0.5`` for gamma). Several dimensions compose:
their edits are applied one after the other at each layer, in the order given, exactly as
nested ``edit_neurons`` blocks would apply them.

Rules: the served rules of :mod:`valuelocate.steering.rules` and their controls: ``dynamic``
(the study's rule on the run's neuron sets) and ``random_control`` (its random control); on a
run with a verdict (``valuelocate run``), also ``mean-diff`` (the verdict's default steering,
:func:`valuelocate.run_edit`) and ``mean-diff-control`` (its permuted control). For these two
the size is a multiple of the gamma the verdict calibrated to its damage budget (1.0 = that
gamma), and the default scope is ``all``, as the verdict measured them.

Admission: building a request's edit (reading the catalog's sets or verdict edits, building
the rule's edit, folding a constant vector into the model's dtype) is cached per (dimension,
pole, rule, strength, seed); a request whose parts are all cached gets fresh copies of them
(the dynamic rule's draws restart from the seed) in microseconds. :meth:`SteeringCatalog.admit`
says how long it took and whether the cache answered; the server logs both per request.

A batch applies one edit per row with :mod:`valuelocate.steering.rows`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from valuelocate.architectures import Site
from valuelocate.hooks import Edit, NeuronEdit
from valuelocate.selection import Selection
from valuelocate.steering.compose import compose
from valuelocate.steering.dynamic import DynamicEdit
from valuelocate.steering.mean_diff import MeanDiffEdit
from valuelocate.steering.rows import Additive, edit_parts
from valuelocate.steering.rules import (
    STUDY_RULE,
    Inputs,
    ServedBuilder,
    served_builders,
    served_rule,
    unknown_rule,
)
from valuelocate.vocab import SCOPES, Scope

# served name -> builder(inputs, pole, strength) -> Edit: the registry's served rules and
# their controls (a test may add its own).
RULES: dict[str, ServedBuilder] = served_builders()

# (dimension, pole, control) -> the verdict's edit at gamma 1 and its calibrated gamma
VerdictEdits = Mapping[tuple[str, str, bool], tuple[MeanDiffEdit, float]]


class SteeringError(ValueError):
    """A steering request that cannot be served; ``param`` names the offending field."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Steering:
    """What one request asks for. ``values`` keeps the caller's order; zeros are dropped
    (a gamma of 0 is no edit at all, so the answer is the unsteered one bit for bit)."""

    values: tuple[tuple[str, float], ...] = ()
    rule: str = STUDY_RULE
    scope: Scope = "generated"
    seed: int = 0

    @property
    def active(self) -> bool:
        return bool(self.values)

    def describe(self) -> str:
        """A short log form: ``conservation=+1,self_enhancement=-0.5 dynamic/generated``."""
        if not self.values:
            return "none"
        parts = ",".join(f"{d}={g:+g}" for d, g in self.values)
        return f"{parts} {self.rule}/{self.scope}"


@dataclass(frozen=True)
class Admission:
    """A request's steering, built: its edit (``None``: unsteered), the seconds building took,
    and ``cache``: ``hit`` (every part came from the cache), ``miss`` (some part was built) or
    ``none`` (nothing to build)."""

    edit: Edit | None
    seconds: float
    cache: str


# Edits a cache may hand out again: immutable ones as they are, the dynamic rule's as a fresh
# copy (its own generator, at the seed). Any other edit is built anew for every request.
_CACHEABLE = (MeanDiffEdit, NeuronEdit, DynamicEdit)


def _fresh(edit: Any) -> Any:
    return dataclasses.replace(edit) if isinstance(edit, DynamicEdit) else edit


def fold(edit: Edit | None, dtype: torch.dtype, device: torch.device) -> None:
    """Precompute what the batch's fast path (:mod:`valuelocate.steering.rows`) reads of
    ``edit`` for a model of ``dtype`` on ``device``: each constant part's vector, cast (the
    part keeps it, so a cached part is folded once)."""
    for part in edit_parts(edit):
        if isinstance(part, Additive):
            for layer in part.layers():  # type: ignore[attr-defined]
                part.additive(int(layer), dtype, device)


@dataclass
class SteeringCatalog:
    """The neuron sets a server steers with, and how to turn a request into an edit.

    Attributes:
        base_name: the served name of the unsteered model (e.g. ``default``).
        sets: dimension -> its two neuron sets (from ``load_neuron_sets``).
        site: where the run located its neurons (edits apply there).
        default_rule: the rule used when a request names none (the run's; else ``mean-diff``
            on a run with a verdict, ``dynamic`` without one).
        max_gamma: the largest ``|gamma|`` a request may ask for.
        alias_gamma: gamma of an alias without ``@g``.
        verdict_edits: the run's verdict edits (empty when it has no verdict), which the
            ``mean-diff`` rules serve.
        cache_size: most request parts (dimension, pole, rule, strength, seed) whose edits
            are kept built; the least recently used leaves first.
        cache_hits, cache_misses: parts answered from the cache, and built.
    """

    base_name: str
    sets: Mapping[str, Selection]
    site: Site = "act"
    default_rule: str = STUDY_RULE
    max_gamma: float = 4.0
    alias_gamma: float = 1.0
    verdict_edits: VerdictEdits = field(default_factory=dict)
    cache_size: int = 256
    cache_hits: int = field(init=False, default=0)
    cache_misses: int = field(init=False, default=0)
    _all: list[Selection] = field(init=False)
    _cache: OrderedDict[tuple[Any, ...], Edit] = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._all = list(self.sets.values())
        self._cache = OrderedDict()
        self._lock = threading.Lock()

    def inputs(self, dim: str | None, seed: int = 0) -> Inputs:
        """What the rules build ``dim``'s edits from (``None``: what the run has at all)."""
        verdict = {
            (pole, control): found
            for (d, pole, control), found in self.verdict_edits.items()
            if dim is None or d == dim
        }
        sel = self.sets[dim] if dim is not None else next(iter(self.sets.values()), None)
        return Inputs(
            selection=sel,
            exclude=[s for s in self._all if s is not sel],
            verdict=verdict or None,
            site=self.site,
            seed=seed,
        )

    def _missing(self, rule: str, dim: str | None) -> str | None:
        """Why ``rule`` cannot be built here (for ``dim``), or ``None``."""
        found = served_rule(rule)
        return found[0].missing(self.inputs(dim)) if found else None

    def rules(self) -> list[str]:
        """The rules this server can serve (the verdict's only when the run has one)."""
        return [name for name in RULES if self._missing(name, None) is None]

    def aliases(self) -> list[str]:
        """One steered model name per dimension and pole."""
        return [
            f"{self.base_name}+{dim}:{pole}" for dim in self.sets for pole in ("affirm", "oppose")
        ]

    def parse_model(self, model: str) -> list[tuple[str, float]]:
        """``base`` -> no values; ``base+dim:pole[@g]`` (repeatable) -> those values."""
        head, *parts = model.split("+")
        if head != self.base_name:
            raise SteeringError(
                f"The model {model!r} does not exist; this server serves {self.base_name!r} "
                f"and its aliases (GET /v1/models)",
                "model",
            )
        out = []
        for part in parts:
            name, _, gamma_text = part.partition("@")
            dim, _, pole = name.partition(":")
            if pole not in ("affirm", "oppose"):
                raise SteeringError(
                    f"Alias part {part!r} must read dimension:affirm or dimension:oppose", "model"
                )
            try:
                gamma = float(gamma_text) if gamma_text else self.alias_gamma
            except ValueError:
                raise SteeringError(
                    f"Alias gamma {gamma_text!r} is not a number", "model"
                ) from None
            out.append((dim, gamma if pole == "affirm" else -gamma))
        return out

    def steering(
        self,
        model: str,
        values: Mapping[str, object] | None,
        rule: str | None,
        scope: str | None,
        seed: int | None,
    ) -> Steering:
        """Validate a request's steering fields; every error names its field."""
        pairs = self.parse_model(model)
        if values is not None:
            if not isinstance(values, Mapping):
                raise SteeringError("values must be an object {dimension: gamma}", "values")
            pairs += [(str(k), v) for k, v in values.items()]  # type: ignore[misc]
        checked: list[tuple[str, float]] = []
        for dim, gamma in pairs:
            param = f"values.{dim}"
            if dim not in self.sets:
                raise SteeringError(
                    f"Unknown dimension {dim!r}; this server's neuron run has: "
                    f"{', '.join(self.sets)}",
                    param,
                )
            if isinstance(gamma, bool) or not isinstance(gamma, int | float):
                raise SteeringError(f"{param} must be a number (signed gamma)", param)
            if not abs(float(gamma)) <= self.max_gamma:  # also refuses NaN
                raise SteeringError(
                    f"{param} = {gamma} is out of range; |gamma| must be <= {self.max_gamma:g}",
                    param,
                )
            if float(gamma) != 0.0:
                checked.append((dim, float(gamma)))
        rule = rule if rule is not None else self.default_rule
        if rule in RULES and (why := self._missing(rule, None)) is not None:
            raise SteeringError(
                f"Rule {rule!r} {why}; expected one of: " + ", ".join(self.rules()), "rule"
            )
        if rule not in self.rules():
            raise SteeringError(str(unknown_rule(rule, self.rules())), "rule")
        for dim, _ in checked:
            if (why := self._missing(rule, dim)) is not None:
                raise SteeringError(f"Rule {rule!r} for {dim!r} {why}", f"values.{dim}")
        found = served_rule(rule)
        default_scope = found[0].scope if found else "generated"
        scope = scope if scope is not None else default_scope
        if scope not in SCOPES:
            raise SteeringError(
                f"Unknown scope {scope!r}; expected one of: {', '.join(SCOPES)}", "scope"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise SteeringError("steering_seed must be an integer", "steering_seed")
        return Steering(tuple(checked), rule, scope, seed or 0)  # type: ignore[arg-type]

    def build(self, steering: Steering) -> Edit | None:
        """A fresh edit for one request (fresh random draws), or ``None`` when unsteered."""
        return self.admit(steering).edit

    def admit(
        self,
        steering: Steering,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | None = None,
    ) -> Admission:
        """Build ``steering``'s edit through the cache; with ``dtype`` (and ``device``), also
        fold its constant vectors for a model of that dtype (once per cached part)."""
        start = time.perf_counter()
        if not steering.active:
            return Admission(None, time.perf_counter() - start, "none")
        parts, hit = [], True
        for dim, gamma in steering.values:
            part, cached = self._part(dim, gamma, steering)
            parts.append(part)
            hit = hit and cached
        edit: Edit = compose(parts, parts[0].site)
        if dtype is not None:
            fold(edit, dtype, device if device is not None else torch.device("cpu"))
        return Admission(edit, time.perf_counter() - start, "hit" if hit else "miss")

    def _part(self, dim: str, gamma: float, steering: Steering) -> tuple[Edit, bool]:
        """One dimension's edit (fresh where it has state), and whether the cache had it."""
        pole = "affirm" if gamma > 0 else "oppose"
        builder = RULES[steering.rule]
        # The builder itself is in the key: a test (or a plugin) may register another one.
        key = (dim, pole, steering.rule, abs(gamma), steering.seed, builder)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                self.cache_hits += 1
                return _fresh(found), True
            self.cache_misses += 1
        made: Edit = builder(self.inputs(dim, steering.seed), pole, abs(gamma))  # type: ignore[assignment]
        if not isinstance(made, _CACHEABLE):
            return made, False
        with self._lock:
            self._cache[key] = made
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return _fresh(made), False
