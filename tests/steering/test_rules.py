"""The steering rule registry: did-you-mean on a wrong name, every rule builds an edit and a
control, and no module outside the registry tells rules apart by name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from valuelocate.hooks import edit_neurons
from valuelocate.selection import NeuronSet, Selection
from valuelocate.stats import NeuronStats
from valuelocate.steering.rules import RULES, Inputs, get_rule, served_builders

from tiny_models import build, left_padded_batch

SRC = Path(__file__).parents[2] / "src" / "valuelocate"
SHAPE = (3, 96)


def _set(pole: str, layers: list[int], indices: list[int]) -> NeuronSet:
    k = len(layers)
    return NeuronSet(
        pole,  # type: ignore[arg-type]
        "hand",
        {},
        SHAPE,
        torch.tensor(layers),
        torch.tensor(indices),
        torch.full((k,), 0.5, dtype=torch.float64),
        torch.full((k,), 0.4, dtype=torch.float64),
        torch.full((k,), 1.5, dtype=torch.float64),
        torch.ones(k, dtype=torch.float64),
    )


def _inputs() -> Inputs:
    selection = Selection(_set("affirm", [0, 1, 1], [3, 4, 9]), _set("oppose", [1, 2], [5, 7]))
    stats = {}
    for pole, shift in (("affirm", 1.0), ("oppose", -1.0)):
        s = NeuronStats(*SHAPE, hist_bins=3)
        values = torch.randn(2, 5, SHAPE[1], generator=torch.Generator().manual_seed(7)) + shift
        for layer in range(SHAPE[0]):
            s.add(layer, values, torch.ones(2, 5, dtype=torch.bool))
        stats[pole] = s
    return Inputs(
        selection=selection,
        stats=stats,
        residual=(torch.randn(16, generator=torch.Generator().manual_seed(1)), 0),
        answer_log_odds=torch.randn(32, generator=torch.Generator().manual_seed(2)),
    )


def test_an_unknown_rule_names_the_closest_and_lists_them_all() -> None:
    with pytest.raises(ValueError, match="did you mean 'mean-diff'") as error:
        get_rule("mean-dif")
    assert all(name in str(error.value) for name in RULES)
    with pytest.raises(ValueError, match="expected one of"):
        get_rule("zzz")


def test_every_rule_has_a_description_and_every_editing_rule_an_edit_and_a_control() -> None:
    inputs = _inputs()
    for rule in RULES.values():
        assert rule.description and "\n" not in rule.description
        if not rule.edits:
            with pytest.raises(ValueError, match="edits no neuron"):
                rule.factories(inputs, "affirm")
            continue
        for pole in ("affirm", "oppose"):
            built = rule.factories(inputs, pole)
            edit, control = built.edit(1.0), built.control(1.0)
            assert edit is not None and control is not None and built.neurons > 0
            assert rule.missing(inputs) is None


def test_neuron_rules_edit_a_model() -> None:
    model = build("llama")
    batch = left_padded_batch([[5, 17, 33], [12, 60, 7]])
    with torch.no_grad():
        plain = model(**batch).logits
    for name in ("dynamic", "scale", "add", "ablate"):
        built = get_rule(name).factories(_inputs(), "affirm")
        for edit in (built.edit(2.0), built.control(2.0)):
            with torch.no_grad(), edit_neurons(model, edit, scope="all"):  # type: ignore[arg-type]
                assert not torch.equal(model(**batch).logits, plain), name


def test_served_names_are_the_served_rules_and_their_controls() -> None:
    served = [r for r in RULES.values() if r.control_name is not None]
    assert list(served_builders()) == [n for r in served for n in (r.name, r.control_name)]
    edit = served_builders()["random_control"](_inputs(), "oppose", 1.0)
    assert edit.site == "act"  # type: ignore[union-attr]


def test_only_the_registry_tells_rules_apart_by_name() -> None:
    pattern = re.compile(r"""rule\s*(==|!=|in)\s*\(?["']""")
    found = [
        f"{path.relative_to(SRC)}:{number}"
        for path in SRC.rglob("*.py")
        if path.name != "rules.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, found
