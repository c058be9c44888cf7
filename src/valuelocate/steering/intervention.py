"""One way to apply any steering intervention around a block of forward calls.

A neuron edit (any :class:`~valuelocate.hooks.Edit`: the study's dynamic rule, ``mean-diff``,
``scale`` ...) is applied with :func:`~valuelocate.hooks.edit_neurons` at every position
(scope ``all``: a likelihood or a next-token read must see the edit on the prompt too). A
residual-stream steering vector (:class:`~valuelocate.steering.residual.ResidualSteer`) owns
its own hook and says so by having an ``apply(model)`` context manager. Readers and the cost
measure call :func:`applied` and need not know which kind they hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, runtime_checkable

from torch import nn

from valuelocate.hooks import Edit, edit_neurons


@runtime_checkable
class SelfApplying(Protocol):
    """An intervention that installs its own hooks (a residual-stream vector)."""

    def apply(self, model: nn.Module) -> AbstractContextManager[Any]: ...


Intervention = Edit | SelfApplying


@contextmanager
def applied(model: nn.Module, edit: Intervention | None) -> Iterator[None]:
    """Apply ``edit`` (or nothing) to ``model`` while the block runs; hooks are removed after.

    A stochastic edit restarts its seeded draws first (``reset()``), so every measurement of
    a condition sees the same sequence of draws whatever ran before it.

    Example:
        >>> with applied(lm.model, edit):
        ...     logits = lm.model(**batch).logits
    """
    if edit is None:
        yield
        return
    reset = getattr(edit, "reset", None)
    if callable(reset):
        reset()
    if isinstance(edit, SelfApplying):
        with edit.apply(model):
            yield
        return
    with edit_neurons(model, edit, scope="all"):
        yield
