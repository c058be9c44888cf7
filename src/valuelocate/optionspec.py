"""Options written once: a dataclass field declared with :func:`option` carries its help text
and limits, from which the command line (``valuelocate.cli.options``) builds its flags, the
Python API takes keyword arguments (:func:`with_overrides`), and a run records its options
(``dataclasses.asdict``). One stage's options are derived from another's by the fields they
share (:func:`derive`).

Example:
    >>> @dataclass(frozen=True)
    ... class Options:
    ...     seed: int = option(0, "Seed of every random choice.")
    >>> with_overrides(Options(), {"seed": 3}).seed
    3
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

T = TypeVar("T")

# ``option(REQUIRED, ...)``: a field without a default (the command line requires its flag).
REQUIRED: Any = ...


def option(
    default: Any,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    parse: Callable[[Any], Any] | None = None,
    cli: bool = True,
    flag: str | None = None,
    text: str | None = None,
    short: str | None = None,
    choices: tuple[str, ...] | None = None,
    path: Literal["any", "file"] | None = None,
    repeat: bool = False,
) -> Any:
    """A dataclass field with what the command line needs to offer it.

    Args:
        default: the default value (immutable: tuples, not lists; an empty dict is copied for
            each instance); :data:`REQUIRED` for a field without one.
        help: one line for ``--help``.
        min, max: bounds the command line enforces.
        parse: turns the command line's text into the field's value (e.g. ``"0,1,2"`` into
            a tuple); the field is then a text option on the command line.
        cli: ``False`` keeps the field out of the command line (set by the program).
        flag: the flag's name when it is not ``--field-name``. For a bool, the flags as given
            (``"--x/--no-x"``, or ``"--x"`` for a switch that can only be turned on); without
            it a bool has ``--field-name/--no-field-name``.
        text: the default as the command line shows it, for a parsed option (e.g. ``"all"``).
        short: a one-letter alias of the flag (``"-m"``).
        choices: the only values the command line accepts (and lists in ``--help``).
        path: the command line reads a path: ``"any"``, or ``"file"`` (not a directory); a
            ``str`` field gets the path as text.
        repeat: the flag may be given several times; ``parse`` gets the list of values.
    """
    metadata = {
        "help": help,
        "min": min,
        "max": max,
        "parse": parse,
        "cli": cli,
        "flag": flag,
        "text": text,
        "short": short,
        "choices": choices,
        "path": path,
        "repeat": repeat,
    }
    if default is REQUIRED:
        return dataclasses.field(metadata=metadata)
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _parsed(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` parsed by their fields' ``parse``; an unknown name is a ValueError that lists
    the known ones."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in values if k not in known]
    if unknown:
        raise ValueError(
            f"Unknown option {unknown[0]!r} for {cls.__name__}; "
            f"expected some of: {', '.join(known)}"
        )
    out = {}
    for name, value in values.items():
        parse = known[name].metadata.get("parse")
        out[name] = parse(value) if parse is not None else value
    return out


def with_overrides(options: T, overrides: Mapping[str, Any]) -> T:
    """``options`` with the given fields replaced and parsed; an unknown name is a ValueError
    that lists the known ones."""
    values = _parsed(type(options), overrides)
    return dataclasses.replace(options, **values)  # type: ignore[type-var]


def from_values(cls: type[T], values: Mapping[str, Any]) -> T:
    """A new ``cls`` from ``values`` parsed as :func:`with_overrides` does (the way to build
    options that have :data:`REQUIRED` fields)."""
    return cls(**_parsed(cls, values))


def derive(
    cls: type[T], source: Any, *, renamed: Mapping[str, str] | None = None, **values: Any
) -> T:
    """A ``cls`` holding ``source``'s values of the fields the two share by name, then
    ``values``; the other fields keep ``cls``'s defaults.

    Args:
        cls: the options to build (a dataclass).
        source: the options that hold the values (a dataclass instance).
        renamed: ``{source field: cls field}`` for a value ``cls`` names otherwise; the field
            of ``cls`` so named is then filled from the renamed one only.
        values: fields set directly (not parsed).

    Example:
        >>> @dataclass(frozen=True)
        ... class Stage:
        ...     seed: int = 0
        ...     max_new_tokens: int = 48
        >>> @dataclass(frozen=True)
        ... class Job:
        ...     seed: int = 3
        ...     max_new_tokens: int = 16
        ...     answer_tokens: int = 24
        >>> derive(Stage, Job(), renamed={"answer_tokens": "max_new_tokens"})
        Stage(seed=3, max_new_tokens=24)
    """
    renamed = dict(renamed or {})
    targets = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    carried: dict[str, Any] = {}
    for f in dataclasses.fields(source):
        name = renamed.get(f.name, f.name)
        if name in targets and (f.name in renamed or name not in renamed.values()):
            carried[name] = getattr(source, f.name)
    return cls(**{**carried, **values})
