"""Command-line flags built from an options dataclass (see :mod:`valuelocate.optionspec`).

A command is written as ``body(options, **other)``; :func:`options_command` gives it a typer
signature with one flag per option field (help text, bounds and default from the field) plus
the command's own leading parameters, so that an option is declared once, in the library.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from valuelocate.optionspec import from_values


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


@functools.cache
def _choice_enum(name: str, choices: tuple[str, ...]) -> type[Enum]:
    enum: Any = Enum  # the functional API, with choices known only at run time
    return enum(name, [(c, c) for c in choices], type=str)  # type: ignore[no-any-return]


def choice_type(cls: type, name: str) -> type[Enum]:
    """The Enum typer offers for the field ``name`` of ``cls``, declared with ``choices``
    (typer needs an Enum to list and check choices)."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    choices = f.metadata.get("choices")
    if not choices:
        raise ValueError(f"{cls.__name__}.{name} has no choices")
    words = "".join(w.capitalize() for w in name.split("_"))
    return _choice_enum(f"{words}Choice", tuple(choices))


def _required(f: dataclasses.Field) -> bool:  # type: ignore[type-arg]
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _annotation(cls: type, f: dataclasses.Field, hint: Any) -> Any:  # type: ignore[type-arg]
    """What typer parses for field ``f`` (its type hint ``hint``)."""
    meta = f.metadata
    if meta.get("choices"):
        kind: Any = choice_type(cls, f.name)
    elif meta.get("path"):
        kind = Path
    elif meta.get("parse"):
        kind = str
    else:
        kind = _cli_type(hint)
    if meta.get("repeat"):
        return list[kind]  # type: ignore[valid-type]
    if meta.get("path") and f.default is None:
        return Path | None
    return kind


def _cli_default(f: dataclasses.Field) -> Any:  # type: ignore[type-arg]
    """The default typer shows and starts from."""
    meta = f.metadata
    if _required(f):
        return ...
    default = f.default
    if f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    if meta.get("repeat"):
        return list(default) if isinstance(default, tuple) else []
    if meta.get("parse"):
        return meta.get("text") or _default_text(default)
    return default


def _flags(f: dataclasses.Field, kind: Any) -> tuple[str, ...]:  # type: ignore[type-arg]
    meta = f.metadata
    flag = meta.get("flag")
    if kind is bool and not flag:
        name = f.name.replace("_", "-")
        flags: tuple[str, ...] = (f"--{name}/--no-{name}",)
    else:
        flags = (flag or "--" + f.name.replace("_", "-"),)
    return (*flags, meta["short"]) if meta.get("short") else flags


def option_parameters(cls: type) -> list[inspect.Parameter]:
    """One keyword parameter with a ``typer.Option`` default per command-line field of
    ``cls``."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if not meta.get("cli", True):
            continue
        kind = _annotation(cls, f, hints[f.name])
        info = typer.Option(
            _cli_default(f),
            *_flags(f, kind),
            help=meta.get("help", ""),
            min=meta.get("min"),
            max=meta.get("max"),
            # A path's kind is the command's to check (cli/common.py: one line naming it),
            # not click's (a usage box of several lines).
            readable=False,
        )
        out.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=info,
                                     annotation=kind))  # fmt: skip
    return out


def _field_value(f: dataclasses.Field, hint: Any, value: Any) -> Any:  # type: ignore[type-arg]
    """The command line's value as the field takes it (before its ``parse``): a choice's
    text, and a path as text unless the field holds a Path."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path) and Path not in (hint, *typing.get_args(hint)):
        return str(value)
    return value


def _build(cls: type, values: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return from_values(cls, {k: _field_value(fields[k], hints[k], v) for k, v in values.items()})


def options_command(
    cls: type | tuple[type, ...],
    body: Callable[..., None],
    *,
    leading: Sequence[inspect.Parameter] = (),
    trailing: Sequence[inspect.Parameter] = (),
    doc: str | None = None,
) -> Callable[..., None]:
    """A typer command whose flags are ``cls``'s fields plus ``leading`` and ``trailing``
    parameters; it calls ``body(options, **the_others)``. With a tuple of classes, their
    fields' flags come one class after the other and ``body`` gets one options object per
    class, in order (their command-line fields must not share a name)."""
    classes = cls if isinstance(cls, tuple) else (cls,)
    # Only the fields offered on the command line: a field kept off it (``cli=False``) may
    # share its name with one of the command's own parameters (``run``'s ``--judge``).
    names = [
        {f.name for f in dataclasses.fields(c) if f.metadata.get("cli", True)} for c in classes
    ]
    if sum(map(len, names)) != len(set().union(*names)):
        raise ValueError(f"Options of {classes} share a field name")

    def command(**kwargs: Any) -> None:
        own = [{k: kwargs.pop(k) for k in list(kwargs) if k in n} for n in names]
        body(*(_build(c, values) for c, values in zip(classes, own, strict=True)), **kwargs)

    params = [*leading, *(p for c in classes for p in option_parameters(c)), *trailing]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = doc or body.__doc__
    return command


def keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    """A command's own keyword parameter (``default`` is a ``typer.Option`` or
    ``typer.Argument``)."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)  # fmt: skip


def resume_option() -> Any:
    """``--resume``, as every resumable command offers it."""
    return typer.Option(False, "--resume", help="Continue an interrupted run in --out.")
