"""``steering.intervention.applied``: a neuron edit is hooked at every position and removed
after, a self-applying intervention installs its own hooks, and ``None`` applies nothing.
And the package's docstring names each of its modules."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

import valuelocate.steering
from valuelocate.hooks import count_hooks
from valuelocate.steering.intervention import SelfApplying, applied


class _SelfApplying:
    def __init__(self) -> None:
        self.entered = 0

    @contextlib.contextmanager
    def apply(self, model: nn.Module) -> Iterator[None]:
        self.entered += 1
        yield


def test_none_and_self_applying_interventions() -> None:
    model = nn.Linear(2, 2)
    with applied(model, None):
        pass
    own = _SelfApplying()
    assert isinstance(own, SelfApplying)
    with applied(model, own):  # type: ignore[arg-type]
        assert own.entered == 1


def test_a_neuron_edit_changes_the_logits_only_inside(stories_lm) -> None:  # type: ignore[no-untyped-def]
    from valuelocate.steering.simple import set_value_edit

    model = stories_lm.model
    ids = torch.tensor([[1, 400, 401, 402]])
    edit = set_value_edit({layer: torch.arange(64) for layer in range(5)}, 3.0)
    before, hooks = model(input_ids=ids).logits, count_hooks(model)
    with applied(model, edit):
        assert count_hooks(model) > hooks
        inside = model(input_ids=ids).logits
    assert count_hooks(model) == hooks
    assert not torch.allclose(inside[0, 0], before[0, 0])  # the prompt's positions too
    torch.testing.assert_close(model(input_ids=ids).logits, before)


def test_the_package_docstring_names_every_module() -> None:
    folder = Path(valuelocate.steering.__file__).parent
    modules = {p.stem for p in folder.glob("*.py")} - {"__init__"}
    doc = valuelocate.steering.__doc__ or ""
    assert modules and all(f"valuelocate.steering.{m}`" in doc for m in modules)
