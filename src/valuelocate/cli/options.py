"""Command-line flags built from an options dataclass (see :mod:`valuelocate.optionspec`).

A command is written as ``body(options, **other)``; :func:`options_command` gives it a typer
signature with one flag per option field (help text, bounds and default from the field) plus
the command's own leading parameters, so that an option is declared once, in the library.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Any

import typer

from valuelocate.optionspec import with_overrides


def _cli_type(hint: Any) -> Any:
    """The type typer parses: Literal and other text-like hints become ``str``."""
    if typing.get_origin(hint) is typing.Literal:
        return str
    if hint in (int, float, bool, str):
        return hint
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if len(args) == 1 and args[0] in (int, float, bool, str):
        return args[0] | None
    return str


def _default_text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return "" if value is None else str(value)


def option_parameters(cls: type) -> list[inspect.Parameter]:
    """One keyword parameter with a ``typer.Option`` default per command-line field of
    ``cls``."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if not meta.get("cli", True):
            continue
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        kind = str if meta.get("parse") else _cli_type(hints[f.name])
        default = f.default
        if meta.get("parse"):
            default = meta.get("text") or _default_text(default)
        flags = (f"{flag}/--no-{flag.removeprefix('--')}",) if kind is bool else (flag,)
        info = typer.Option(
            default, *flags, help=meta.get("help", ""), min=meta.get("min"), max=meta.get("max")
        )
        out.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=info,
                                     annotation=kind))  # fmt: skip
    return out


def options_command(
    cls: type,
    body: Callable[..., None],
    *,
    leading: Sequence[inspect.Parameter] = (),
    trailing: Sequence[inspect.Parameter] = (),
    doc: str | None = None,
) -> Callable[..., None]:
    """A typer command whose flags are ``cls``'s fields plus ``leading`` and ``trailing``
    parameters; it calls ``body(options, **the_others)``."""
    # Only the fields offered on the command line: a field kept off it (``cli=False``) may
    # share its name with one of the command's own parameters (``run``'s ``--judge``).
    names = {f.name for f in dataclasses.fields(cls) if f.metadata.get("cli", True)}

    def command(**kwargs: Any) -> None:
        own = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        body(with_overrides(cls(), own), **kwargs)

    params = [*leading, *option_parameters(cls), *trailing]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = doc or body.__doc__
    return command


def keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    """A command's own keyword parameter (``default`` is a ``typer.Option`` or
    ``typer.Argument``)."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)  # fmt: skip
